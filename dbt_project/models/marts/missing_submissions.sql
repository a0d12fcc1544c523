-- The follow-up list: LAOs whose nightly file is missing or was rejected.
-- Grain: source x extract_date x lao_code (only LAOs that did not report).
select
    s.source,
    s.extract_date,
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    s.lao_code,
    l.lao_name_th,
    l.lao_type,
    s.status,
    f.error as rejection_reason
from {{ source('ops', 'submissions') }} as s
inner join {{ ref('dim_lao') }} as l on l.lao_code = s.lao_code
left join {{ source('ops', 'files') }} as f
    on f.source = s.source and f.extract_date = s.extract_date and f.file_name = s.file_name
where s.status <> 'reported'
