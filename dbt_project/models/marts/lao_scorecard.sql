-- LAO scorecard per fiscal year: indicators from the three domains, each normalised within
-- LAO type (percent rank 0-1), a weighted composite and the Platinum/Gold/Silver/Bronze
-- group. Weights: seed scorecard_weights; group thresholds: seed scorecard_groups.
-- An indicator an LAO has no data for is left out of its composite (weights re-scaled).
-- Grain: lao_code x fiscal_year_be.
with revenue as (
    select
        lao_code, fiscal_year_be,
        sum(amount_ytd) / nullif(sum(amount_prev_ytd), 0) - 1 as revenue_growth,
        sum(amount_ytd) filter (where is_land_building_tax) / nullif(sum(amount_ytd), 0)
            as land_building_tax_share
    from {{ ref('revenue_by_lao_account_detail') }}
    group by lao_code, fiscal_year_be
),

rabies as (
    select lao_code, fiscal_year_be, coverage as rabies_coverage
    from {{ ref('rabies_coverage_by_lao') }}
),

allowance as (
    select
        lao_code, fiscal_year_be,
        sum(paid_on_time)::numeric / nullif(sum(regular_payments), 0) as allowance_on_time,
        -- under-60 lines always mismatch the tier, so they are counted once here
        1 - sum(amount_mismatch_count)::numeric / nullif(sum(payments), 0)
            as allowance_accuracy
    from {{ ref('agg_allowance_lao_period') }}
    group by lao_code, fiscal_year_be
),

reporting as (
    select
        lao_code, {{ fiscal_year_be('extract_date') }} as fiscal_year_be,
        avg(case when reported_sources = 3 then 1.0 else 0.0 end) as reporting_rate
    from (
        select lao_code, extract_date, count(*) filter (where status = 'reported') as reported_sources
        from {{ source('ops', 'submissions') }}
        group by lao_code, extract_date
    ) as nightly
    group by lao_code, {{ fiscal_year_be('extract_date') }}
),

keys as (
    select lao_code, fiscal_year_be from revenue
    union select lao_code, fiscal_year_be from rabies
    union select lao_code, fiscal_year_be from allowance
    union select lao_code, fiscal_year_be from reporting
),

wide as (
    select
        k.lao_code, k.fiscal_year_be, l.lao_type,
        rv.revenue_growth, rv.land_building_tax_share, rb.rabies_coverage,
        al.allowance_on_time, al.allowance_accuracy, rp.reporting_rate
    from keys as k
    inner join {{ ref('dim_lao') }} as l on l.lao_code = k.lao_code
    left join revenue as rv on rv.lao_code = k.lao_code and rv.fiscal_year_be = k.fiscal_year_be
    left join rabies as rb on rb.lao_code = k.lao_code and rb.fiscal_year_be = k.fiscal_year_be
    left join allowance as al on al.lao_code = k.lao_code and al.fiscal_year_be = k.fiscal_year_be
    left join reporting as rp on rp.lao_code = k.lao_code and rp.fiscal_year_be = k.fiscal_year_be
),

long as (
    select lao_code, fiscal_year_be, lao_type, indicator, value
    from wide
    cross join lateral (values
        ('revenue_growth', revenue_growth),
        ('land_building_tax_share', land_building_tax_share),
        ('rabies_coverage', rabies_coverage),
        ('allowance_on_time', allowance_on_time),
        ('allowance_accuracy', allowance_accuracy),
        ('reporting_rate', reporting_rate)
    ) as v (indicator, value)
    where value is not null
),

normalised as (
    select
        lg.*,
        w.weight,
        -- the only LAO of its type (Pattaya) has no peers to rank against: neutral 0.5
        case when count(*) over (partition by lg.lao_type, lg.fiscal_year_be, lg.indicator) = 1
            then 0.5
            else percent_rank() over (
                partition by lg.lao_type, lg.fiscal_year_be, lg.indicator
                order by case when w.direction = 'lower_is_better' then -lg.value else lg.value end)
        end as score
    from long as lg
    inner join {{ ref('scorecard_weights') }} as w on w.indicator = lg.indicator
),

composite as (
    select
        lao_code, fiscal_year_be,
        sum(weight * score) / nullif(sum(weight), 0) as composite_score,
        count(*) as indicators_used,
        max(score) filter (where indicator = 'revenue_growth') as revenue_growth_score,
        max(score) filter (where indicator = 'land_building_tax_share') as land_building_tax_share_score,
        max(score) filter (where indicator = 'rabies_coverage') as rabies_coverage_score,
        max(score) filter (where indicator = 'allowance_on_time') as allowance_on_time_score,
        max(score) filter (where indicator = 'allowance_accuracy') as allowance_accuracy_score,
        max(score) filter (where indicator = 'reporting_rate') as reporting_rate_score
    from normalised
    group by lao_code, fiscal_year_be
)

select
    w.lao_code,
    l.lao_name_th,
    w.lao_type,
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    w.fiscal_year_be,
    w.revenue_growth::numeric(12, 4) as revenue_growth,
    w.land_building_tax_share::numeric(6, 4) as land_building_tax_share,
    w.rabies_coverage::numeric(6, 4) as rabies_coverage,
    w.allowance_on_time::numeric(6, 4) as allowance_on_time,
    w.allowance_accuracy::numeric(6, 4) as allowance_accuracy,
    w.reporting_rate::numeric(6, 4) as reporting_rate,
    c.revenue_growth_score::numeric(6, 4) as revenue_growth_score,
    c.land_building_tax_share_score::numeric(6, 4) as land_building_tax_share_score,
    c.rabies_coverage_score::numeric(6, 4) as rabies_coverage_score,
    c.allowance_on_time_score::numeric(6, 4) as allowance_on_time_score,
    c.allowance_accuracy_score::numeric(6, 4) as allowance_accuracy_score,
    c.reporting_rate_score::numeric(6, 4) as reporting_rate_score,
    c.indicators_used::int as indicators_used,
    round(c.composite_score::numeric, 4)::numeric(6, 4) as composite_score,
    (select g.group_name from {{ ref('scorecard_groups') }} as g
        where c.composite_score >= g.min_score order by g.rank_order limit 1) as performance_group
from wide as w
inner join composite as c using (lao_code, fiscal_year_be)
inner join {{ ref('dim_lao') }} as l on l.lao_code = w.lao_code
