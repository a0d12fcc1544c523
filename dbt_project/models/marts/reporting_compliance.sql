-- Which LAOs sent their nightly file, per source, extract date and province, with the
-- shared definition of "reported" (core.fct_submissions: a header-only file is a report).
-- Grain: source x extract_date x province_code.
select
    s.source,
    s.extract_date,
    s.fiscal_year_be,
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    count(*)::bigint as laos_expected,
    count(*) filter (where s.is_reported)::bigint as laos_reported,
    count(*) filter (where s.status = 'rejected')::bigint as laos_rejected,
    count(*) filter (where s.status = 'missing')::bigint as laos_missing,
    {{ rate('count(*) filter (where s.is_reported)', 'count(*)') }} as reported_rate,
    {{ is_latest('s.extract_date') }} as is_latest_period
from {{ ref('fct_submissions') }} as s
inner join {{ ref('dim_lao') }} as l on s.lao_code = l.lao_code
group by
    s.source, s.extract_date, s.fiscal_year_be, l.province_code, l.province_name_th,
    l.province_name_en
