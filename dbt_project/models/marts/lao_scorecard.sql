-- LAO scorecard per fiscal year: six indicators from four domains (revenue, rabies,
-- allowance, reporting), each scored 0-1 against its floor and target (seed
-- scorecard_indicators), a weighted composite over the indicators the LAO has data for,
-- and the Platinum/Gold/Silver/Bronze group (seed scorecard_groups). An LAO with fewer
-- than scorecard_min_indicators indicators or scorecard_min_domains domains is not_rated,
-- with the reason. marts.scorecard_rules shows every rule in force.
-- Grain: lao_code x fiscal_year_be.
with revenue as (
    select
        lao_code,
        fiscal_year_be,
        sum(amount_ytd) / nullif(sum(amount_prev_ytd), 0) - 1 as revenue_growth_rate,
        sum(amount_ytd) filter (where is_land_building_tax) / nullif(sum(amount_ytd), 0)
            as land_building_tax_share_rate
    from {{ ref('revenue_by_lao_account_detail') }}
    group by lao_code, fiscal_year_be
),

rabies as (
    select
        lao_code,
        fiscal_year_be,
        coverage_rate as rabies_coverage_rate
    from {{ ref('rabies_coverage_by_lao') }}
),

allowance as (
    select
        lao_code,
        fiscal_year_be,
        sum(paid_on_time)::numeric / nullif(sum(regular_payments), 0) as allowance_on_time_rate,
        -- under-60 lines always mismatch the tier, so they are counted once here
        1 - sum(amount_mismatch_count)::numeric / nullif(sum(payments), 0)
            as allowance_accuracy_rate
    from {{ ref('agg_allowance_lao_period') }}
    group by lao_code, fiscal_year_be
),

reporting as (
    -- the share of nights on which the LAO reported all three sources (shared definition,
    -- counted per LAO and fiscal year by core.agg_reporting_lao_fy)
    select
        lao_code,
        fiscal_year_be,
        nights_all_reported::numeric / nights as reporting_rate
    from {{ ref('agg_reporting_lao_fy') }}
),

keys as (
    select
        lao_code,
        fiscal_year_be
    from revenue
    union
    select
        lao_code,
        fiscal_year_be
    from rabies
    union
    select
        lao_code,
        fiscal_year_be
    from allowance
    union
    select
        lao_code,
        fiscal_year_be
    from reporting
),

wide as (
    select
        k.lao_code,
        k.fiscal_year_be,
        rv.revenue_growth_rate,
        rv.land_building_tax_share_rate,
        rb.rabies_coverage_rate,
        al.allowance_on_time_rate,
        al.allowance_accuracy_rate,
        rp.reporting_rate
    from keys as k
    left join revenue as rv on k.lao_code = rv.lao_code and k.fiscal_year_be = rv.fiscal_year_be
    left join rabies as rb on k.lao_code = rb.lao_code and k.fiscal_year_be = rb.fiscal_year_be
    left join allowance as al on k.lao_code = al.lao_code and k.fiscal_year_be = al.fiscal_year_be
    left join reporting as rp on k.lao_code = rp.lao_code and k.fiscal_year_be = rp.fiscal_year_be
),

scored as (
    select
        w.lao_code,
        w.fiscal_year_be,
        v.indicator,
        v.value,
        i.domain,
        i.weight,
        {{ indicator_score('v.value', 'i.floor_value', 'i.target_value') }} as score
    from wide as w
    cross join
        lateral (
            values
            ('revenue_growth_rate', w.revenue_growth_rate),
            ('land_building_tax_share_rate', w.land_building_tax_share_rate),
            ('rabies_coverage_rate', w.rabies_coverage_rate),
            ('allowance_on_time_rate', w.allowance_on_time_rate),
            ('allowance_accuracy_rate', w.allowance_accuracy_rate),
            ('reporting_rate', w.reporting_rate)
        ) as v (indicator, value)
    inner join {{ ref('scorecard_indicators') }} as i on v.indicator = i.indicator
    where v.value is not null
),

composite as (
    select
        lao_code,
        fiscal_year_be,
        sum(weight * score) / nullif(sum(weight), 0) as composite_score,
        count(*) as indicators_used,
        count(distinct domain) as domains_used,
        string_agg(indicator, ', ' order by indicator) as indicators,
        max(score) filter (where indicator = 'revenue_growth_rate') as revenue_growth_score,
        max(score) filter (where indicator = 'land_building_tax_share_rate') as land_building_tax_share_score,
        max(score) filter (where indicator = 'rabies_coverage_rate') as rabies_coverage_score,
        max(score) filter (where indicator = 'allowance_on_time_rate') as allowance_on_time_score,
        max(score) filter (where indicator = 'allowance_accuracy_rate') as allowance_accuracy_score,
        max(score) filter (where indicator = 'reporting_rate') as reporting_score,
        (array_agg(indicator order by score desc, weight desc, indicator asc))[1] as strongest_indicator,
        (array_agg(indicator order by score asc, weight desc, indicator asc))[1] as weakest_indicator
    from scored
    group by lao_code, fiscal_year_be
),

grouped as (
    select
        c.*,
        {{ scorecard_group('c.composite_score', 'c.indicators_used', 'c.domains_used') }} as performance_group
    from composite as c
)

select
    w.lao_code,
    l.lao_name_th,
    l.lao_type,
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    w.fiscal_year_be,
    {{ fiscal_year_start('w.fiscal_year_be') }} as fiscal_year_start_date,
    {{ is_current_fiscal_year('w.fiscal_year_be') }} as is_current_fiscal_year,
    w.revenue_growth_rate::numeric(12, 4) as revenue_growth_rate,
    w.land_building_tax_share_rate::numeric(6, 4) as land_building_tax_share_rate,
    w.rabies_coverage_rate::numeric(6, 4) as rabies_coverage_rate,
    w.allowance_on_time_rate::numeric(6, 4) as allowance_on_time_rate,
    w.allowance_accuracy_rate::numeric(6, 4) as allowance_accuracy_rate,
    w.reporting_rate::numeric(6, 4) as reporting_rate,
    g.revenue_growth_score::numeric(6, 4) as revenue_growth_score,
    g.land_building_tax_share_score::numeric(6, 4) as land_building_tax_share_score,
    g.rabies_coverage_score::numeric(6, 4) as rabies_coverage_score,
    g.allowance_on_time_score::numeric(6, 4) as allowance_on_time_score,
    g.allowance_accuracy_score::numeric(6, 4) as allowance_accuracy_score,
    g.reporting_score::numeric(6, 4) as reporting_score,
    g.indicators_used::int as indicators_used,
    g.domains_used::int as domains_used,
    case when g.performance_group <> 'not_rated'
            then round(g.composite_score::numeric, 4)::numeric(6, 4)
    end as composite_score,
    g.performance_group,
    case when g.performance_group = 'not_rated' then
            g.indicators_used || ' indicator(s) from ' || g.domains_used || ' domain(s) ('
            || g.indicators || '); grading needs at least {{ var("scorecard_min_indicators") }}'
            || ' from {{ var("scorecard_min_domains") }} domains'
    end as not_rated_reason,
    case when g.performance_group <> 'not_rated' then g.strongest_indicator end as strongest_indicator,
    case when g.performance_group <> 'not_rated' then g.weakest_indicator end as weakest_indicator
from wide as w
inner join grouped as g on w.lao_code = g.lao_code and w.fiscal_year_be = g.fiscal_year_be
inner join {{ ref('dim_lao') }} as l on w.lao_code = l.lao_code
