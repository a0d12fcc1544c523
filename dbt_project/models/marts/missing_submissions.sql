-- The follow-up list: LAOs that did not report a source on a night (the shared definition
-- in core.fct_submissions): no file, or a rejected one with its reason
-- (core.fct_missing_submissions keeps those rows night by night).
-- Grain: source x extract_date x lao_code (only LAOs that did not report).
select
    m.source,
    m.extract_date,
    m.fiscal_year_be,
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    m.lao_code,
    l.lao_name_th,
    l.lao_type,
    m.status,
    m.rejection_reason_code,
    m.rejection_reason,
    {{ is_latest('m.extract_date') }} as is_latest_period
from {{ ref('fct_missing_submissions') }} as m
inner join {{ ref('dim_lao') }} as l on m.lao_code = l.lao_code
