-- The DLA follow-up list: LAOs (other than PAOs) that have not reported rabies vaccination
-- in the current campaign (the fiscal year of the as-of date), by province. "Reported" is
-- the shared definition (core.fct_submissions, counted per LAO and fiscal year by
-- core.agg_reporting_lao_fy): an accepted vaccination file in the campaign, a header-only
-- file ("nothing to report") included.
-- Grain: lao_code (for the current campaign's fiscal year).
with campaign as (
    select
        {{ fiscal_year_be(marts_as_of()) }} as fiscal_year_be,
        {{ marts_as_of() }} as as_of_date
),

last_files as (
    select
        lao_code,
        max(last_vaccination_reported) as last_file_received
    from {{ ref('agg_reporting_lao_fy') }}
    group by lao_code
),

reported as (
    -- a vaccination report in the campaign's fiscal year, up to the as-of date
    select a.lao_code
    from {{ ref('agg_reporting_lao_fy') }} as a
    inner join campaign as c on a.fiscal_year_be = c.fiscal_year_be
    where a.first_vaccination_reported <= c.as_of_date
)

select
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    l.district_code,
    l.district_name_th,
    l.lao_code,
    l.lao_name_th,
    l.lao_type,
    c.fiscal_year_be,
    {{ fiscal_year_start('c.fiscal_year_be') }} as fiscal_year_start_date,
    c.as_of_date,
    f.last_file_received,
    (c.as_of_date - f.last_file_received)::int as days_since_last_file
from {{ ref('dim_lao') }} as l
cross join campaign as c
left join last_files as f on l.lao_code = f.lao_code
where l.lao_type <> 'PAO'
    and not exists (
        select 1 from reported as r
        where r.lao_code = l.lao_code
    )
