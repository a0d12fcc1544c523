-- The follow-up list: LAOs that did not report a source on a night (the shared definition
-- in core.fct_submissions): no file, or a rejected one with its reason.
-- Grain: source x extract_date x lao_code (only LAOs that did not report).
select
    s.source,
    s.extract_date,
    s.fiscal_year_be,
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    s.lao_code,
    l.lao_name_th,
    l.lao_type,
    s.status,
    f.reason_code as rejection_reason_code,
    f.error as rejection_reason,
    {{ is_latest('s.extract_date') }} as is_latest_period
from {{ ref('fct_submissions') }} as s
inner join {{ ref('dim_lao') }} as l on s.lao_code = l.lao_code
left join {{ source('ops', 'files') }} as f
    on s.source = f.source and s.extract_date = f.extract_date and s.file_name = f.file_name
where not s.is_reported
