{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ reporting_nights_plan_delete() }}",
    post_hook="{{ advance_watermark() }}",
    indexes=[{'columns': ['extract_date', 'source', 'lao_code'], 'unique': True}],
) }}
-- depends_on: {{ ref('reporting_lao_nights') }}
-- The submissions that were not reports (core.fct_submissions' shared definition): no
-- file, or a rejected one with the ledger's reason, so missing_submissions reads these
-- (about one in twenty) instead of every submission of history. A build recomputes the
-- nights reporting_lao_nights marked pending (macros/reporting.sql).
-- Grain: source x extract_date x lao_code (only LAOs that did not report).
select
    s.source,
    s.extract_date,
    s.fiscal_year_be,
    s.lao_code,
    s.status,
    f.reason_code as rejection_reason_code,
    f.error as rejection_reason
from {{ reporting_nights_rows(ref('fct_submissions'), 's') }} as s
left join {{ source('ops', 'files') }} as f
    on s.source = f.source and s.extract_date = f.extract_date and s.file_name = f.file_name
where not s.is_reported
