-- Own-revenue collection per LAO, fiscal year and account: fiscal year-to-date against the
-- same span of the previous fiscal year, and the land and building tax share, without
-- small-cell suppression (restricted; the open mart revenue_by_lao_account hides cells of
-- fewer than small_cell_k receipts). Grain: lao_code x fiscal_year_be x account_code.
-- Amounts are net of cancellations.
with receipts as (
    select * from {{ ref('fct_tax_receipts') }}
),

as_of as (
    select {{ as_of_date('select max(receipt_date) from ' ~ ref('fct_tax_receipts')) }} as as_of_date
),

years as (
    select
        fy.fiscal_year_be,
        {{ fiscal_year_start('fy.fiscal_year_be') }} as fy_start,
        least(a.as_of_date, {{ fiscal_year_start('fy.fiscal_year_be + 1') }} - 1) as fy_as_of
    from (select distinct fiscal_year_be from receipts) as fy
    cross join as_of as a
),

current_span as (
    select
        r.lao_code,
        y.fiscal_year_be,
        r.account_code,
        sum(r.net_amount) as amount_ytd,
        count(*) filter (where not r.is_cancelled) as receipts_ytd,
        count(*) filter (where r.is_cancelled) as cancelled_ytd
    from receipts as r
    inner join years as y
        on r.fiscal_year_be = y.fiscal_year_be and r.receipt_date <= y.fy_as_of
    group by r.lao_code, y.fiscal_year_be, r.account_code
),

previous_span as (
    -- the previous fiscal year, cut at the same day of the fiscal year
    select
        r.lao_code,
        y.fiscal_year_be,
        r.account_code,
        sum(r.net_amount) as amount_prev_ytd,
        count(*) filter (where not r.is_cancelled) as receipts_prev_ytd
    from receipts as r
    inner join years as y
        on r.fiscal_year_be = y.fiscal_year_be - 1
            and r.receipt_date <= {{ fiscal_year_start('y.fiscal_year_be - 1') }} + (y.fy_as_of - y.fy_start)
    group by r.lao_code, y.fiscal_year_be, r.account_code
),

joined as (
    select
        coalesce(c.lao_code, p.lao_code) as lao_code,
        coalesce(c.fiscal_year_be, p.fiscal_year_be) as fiscal_year_be,
        coalesce(c.account_code, p.account_code) as account_code,
        coalesce(c.amount_ytd, 0) as amount_ytd,
        coalesce(c.receipts_ytd, 0) as receipts_ytd,
        coalesce(c.cancelled_ytd, 0) as cancelled_ytd,
        coalesce(p.amount_prev_ytd, 0) as amount_prev_ytd,
        coalesce(p.receipts_prev_ytd, 0) as receipts_prev_ytd
    from current_span as c
    full outer join previous_span as p
        on c.lao_code = p.lao_code and c.fiscal_year_be = p.fiscal_year_be
            and c.account_code = p.account_code
)

select
    j.lao_code,
    l.lao_name_th,
    l.lao_type,
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    j.fiscal_year_be,
    y.fy_start as fiscal_year_start_date,
    {{ is_current_fiscal_year('j.fiscal_year_be') }} as is_current_fiscal_year,
    y.fy_as_of as as_of_date,
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
inner join years as y on j.fiscal_year_be = y.fiscal_year_be
left join {{ ref('dim_lao') }} as l on j.lao_code = l.lao_code
left join {{ ref('revenue_accounts') }} as a on j.account_code = a.account_code
