-- Which LAOs sent their nightly file, per source, extract date and province.
-- Grain: source x extract_date x province_code.
select
    s.source,
    s.extract_date,
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    count(*) as laos_expected,
    count(*) filter (where s.status = 'reported') as laos_reported,
    count(*) filter (where s.status = 'rejected') as laos_rejected,
    count(*) filter (where s.status = 'missing') as laos_missing,
    round(100.0 * count(*) filter (where s.status = 'reported') / count(*), 1) as pct_reported
from {{ source('ops', 'submissions') }} as s
inner join {{ ref('dim_lao') }} as l on l.lao_code = s.lao_code
group by s.source, s.extract_date, l.province_code, l.province_name_th, l.province_name_en
