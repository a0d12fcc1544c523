-- One page per province and fiscal year for the provincial offices: reporting, revenue,
-- rabies, allowance and the scorecard groups of its LAOs.
-- Grain: province_code x fiscal_year_be.
with provinces as (
    select distinct
        province_code,
        province_name_th,
        province_name_en
    from {{ ref('dim_lao') }}
),

years as (
    select distinct fiscal_year_be from {{ ref('lao_scorecard') }}
),

revenue as (
    select
        province_code,
        fiscal_year_be,
        sum(amount_ytd) as revenue_ytd,
        sum(amount_prev_ytd) as revenue_prev_ytd,
        sum(amount_ytd) filter (where is_land_building_tax) as land_building_tax_ytd
    from {{ ref('revenue_by_lao_account_detail') }}
    group by province_code, fiscal_year_be
),

allowance as (
    select
        l.province_code,
        a.fiscal_year_be,
        sum(a.amount_paid) as allowance_paid,
        -- people paid in an average month of the fiscal year
        sum(a.recipients)::numeric / nullif(count(distinct a.payment_period), 0) as allowance_recipients,
        sum(a.paid_on_time)::numeric / nullif(sum(a.regular_payments), 0) as allowance_on_time_rate
    from {{ ref('agg_allowance_lao_period') }} as a
    inner join {{ ref('dim_lao') }} as l on a.lao_code = l.lao_code
    group by l.province_code, a.fiscal_year_be
),

findings as (
    -- restricted.allowance_findings' rows, counted per LAO and period by the build
    select
        l.province_code,
        f.fiscal_year_be,
        sum(f.findings)::bigint as allowance_findings
    from {{ ref('agg_allowance_findings_lao_period') }} as f
    left join {{ ref('dim_lao') }} as l on f.lao_code = l.lao_code
    group by l.province_code, f.fiscal_year_be
),

scorecard as (
    select
        province_code,
        fiscal_year_be,
        count(*) filter (where performance_group = 'Platinum') as laos_platinum,
        count(*) filter (where performance_group = 'Gold') as laos_gold,
        count(*) filter (where performance_group = 'Silver') as laos_silver,
        count(*) filter (where performance_group = 'Bronze') as laos_bronze,
        count(*) filter (where performance_group = 'not_rated') as laos_not_rated,
        avg(reporting_rate) as reporting_rate
    from {{ ref('lao_scorecard') }}
    group by province_code, fiscal_year_be
)

select
    p.province_code,
    p.province_name_th,
    p.province_name_en,
    y.fiscal_year_be,
    {{ fiscal_year_start('y.fiscal_year_be') }} as fiscal_year_start_date,
    {{ is_current_fiscal_year('y.fiscal_year_be') }} as is_current_fiscal_year,
    coalesce(r.revenue_ytd, 0)::numeric(18, 2) as revenue_ytd,
    coalesce(r.revenue_prev_ytd, 0)::numeric(18, 2) as revenue_prev_ytd,
    case when r.revenue_prev_ytd > 0
            then round((r.revenue_ytd - r.revenue_prev_ytd) / r.revenue_prev_ytd, 4)
    end::numeric(12, 4) as revenue_growth_rate,
    coalesce(r.land_building_tax_ytd, 0)::numeric(18, 2) as land_building_tax_ytd,
    rb.surveyed as rabies_surveyed,
    rb.vaccinated as rabies_vaccinated,
    rb.coverage_rate as rabies_coverage_rate,
    rb.meets_target as rabies_meets_target,
    coalesce(a.allowance_paid, 0)::numeric(18, 2) as allowance_paid,
    round(coalesce(a.allowance_recipients, 0))::bigint as allowance_recipients,
    a.allowance_on_time_rate::numeric(6, 4) as allowance_on_time_rate,
    coalesce(fd.allowance_findings, 0)::bigint as allowance_findings,
    s.reporting_rate::numeric(6, 4) as reporting_rate,
    coalesce(s.laos_platinum, 0)::bigint as laos_platinum,
    coalesce(s.laos_gold, 0)::bigint as laos_gold,
    coalesce(s.laos_silver, 0)::bigint as laos_silver,
    coalesce(s.laos_bronze, 0)::bigint as laos_bronze,
    coalesce(s.laos_not_rated, 0)::bigint as laos_not_rated
from provinces as p
cross join years as y
left join revenue as r on p.province_code = r.province_code and y.fiscal_year_be = r.fiscal_year_be
left join {{ ref('rabies_coverage_by_province') }} as rb
    on p.province_code = rb.province_code and y.fiscal_year_be = rb.fiscal_year_be
left join allowance as a on p.province_code = a.province_code and y.fiscal_year_be = a.fiscal_year_be
left join findings as fd on p.province_code = fd.province_code and y.fiscal_year_be = fd.fiscal_year_be
left join scorecard as s on p.province_code = s.province_code and y.fiscal_year_be = s.fiscal_year_be
