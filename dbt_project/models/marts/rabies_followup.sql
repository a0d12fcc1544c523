-- The DLA follow-up list: LAOs (other than PAOs) with no rabies report in the current
-- campaign (the fiscal year of the as-of date), by province.
-- Grain: lao_code (for the current campaign's fiscal year).
with as_of as (
    select {{ as_of_date('select coalesce(max(extract_date), current_date) from ' ~ source('ops', 'nights')) }} as as_of_date
),

campaign as (
    select {{ fiscal_year_be('as_of_date') }} as fiscal_year_be, as_of_date from as_of
),

last_files as (
    select lao_code, max(extract_date) as last_file_received
    from {{ source('ops', 'submissions') }}
    where source = 'vaccination' and status = 'reported'
    group by lao_code
),

reported as (
    select distinct v.lao_code
    from {{ ref('fct_vaccination_reports') }} as v
    inner join campaign as c on c.fiscal_year_be = v.fiscal_year_be
)

select
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    l.lao_code,
    l.lao_name_th,
    l.lao_type,
    c.fiscal_year_be,
    c.as_of_date,
    f.last_file_received
from {{ ref('dim_lao') }} as l
cross join campaign as c
left join last_files as f on f.lao_code = l.lao_code
where l.lao_type <> 'PAO'
    and not exists (select 1 from reported as r where r.lao_code = l.lao_code)
