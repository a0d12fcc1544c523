-- Own-revenue collection per LAO, fiscal year and account: fiscal year-to-date against the
-- same span of the previous fiscal year, and the land and building tax share, without
-- small-cell suppression (restricted; the open mart revenue_by_lao_account hides cells of
-- fewer than small_cell_k receipts). Grain: lao_code x fiscal_year_be x account_code.
-- Amounts are net of cancellations.
-- The sums come from core.agg_revenue_lao_account, kept up to date by deltas, and so does
-- the as-of date they were cut at (its watermark row): a mart rebuilt alone, for another
-- night, never labels those sums with a date they were not cut at.
with as_of as (
    select
        coalesce(
            (
                select w.as_of
                from core.model_watermarks as w
                where w.model = 'agg_revenue_lao_account'
            ),
            ({{ revenue_as_of() }})::date
        ) as as_of_date
),

joined as (
    select
        s.lao_code,
        s.fiscal_year_be,
        s.account_code,
        s.amount_ytd,
        s.receipts_ytd,
        s.cancelled_ytd,
        s.amount_prev_ytd,
        s.receipts_prev_ytd,
        {{ fiscal_year_start('s.fiscal_year_be') }} as fy_start,
        {{ revenue_current_cut('s.fiscal_year_be', 'a.as_of_date') }} as fy_as_of
    from {{ ref('agg_revenue_lao_account') }} as s
    cross join as_of as a
)

select
    j.lao_code,
    l.lao_name_th,
    l.lao_type,
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    j.fiscal_year_be,
    j.fy_start as fiscal_year_start_date,
    {{ is_current_fiscal_year('j.fiscal_year_be') }} as is_current_fiscal_year,
    j.fy_as_of as as_of_date,
    j.account_code,
    a.name_th as account_name_th,
    a.name_en as account_name_en,
    a.is_land_building_tax,
    j.amount_ytd::numeric(18, 2) as amount_ytd,
    j.amount_prev_ytd::numeric(18, 2) as amount_prev_ytd,
    case when j.amount_prev_ytd > 0
            then round((j.amount_ytd - j.amount_prev_ytd) / j.amount_prev_ytd, 4)
    end::numeric(12, 4) as growth_rate,
    {{ rate('j.amount_ytd', 'sum(j.amount_ytd) over (partition by j.lao_code, j.fiscal_year_be)') }}
        as share_of_lao_revenue_rate,
    j.receipts_ytd::bigint as receipts_ytd,
    j.cancelled_ytd::bigint as cancelled_ytd,
    j.receipts_prev_ytd::bigint as receipts_prev_ytd
from joined as j
left join {{ ref('dim_lao') }} as l on j.lao_code = l.lao_code
left join {{ ref('revenue_accounts') }} as a on j.account_code = a.account_code
