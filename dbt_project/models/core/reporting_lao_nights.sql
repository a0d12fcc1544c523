{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=["{{ reporting_nights_plan() }}", "{{ reporting_nights_delete() }}"],
    post_hook=["{{ reporting_nights_record() }}", "{{ advance_watermark() }}"],
    indexes=[
        {'columns': ['fiscal_year_be', 'lao_code']},
        {'columns': ['extract_date', 'lao_code'], 'unique': True},
    ],
) }}
-- How many sources each LAO reported on each night (the shared definition of "reported",
-- core.fct_submissions), so the scorecard's reporting rate reads one narrow row per LAO
-- and night instead of three wide ones. A build recomputes only the nights whose
-- submissions were rewritten since the last one (macros/reporting.sql).
-- Grain: lao_code x extract_date.
select
    s.lao_code,
    s.extract_date,
    s.fiscal_year_be,
    count(*)::smallint as sources_expected,
    count(*) filter (where s.is_reported)::smallint as sources_reported,
    coalesce(bool_or(s.is_reported) filter (where s.source = 'vaccination'), false)
        as vaccination_reported
from {{ ref('fct_submissions') }} as s
{% if is_incremental() %}
    inner join pg_temp.reporting_changed_nights as c on s.extract_date = c.extract_date
{% endif %}
group by s.lao_code, s.extract_date, s.fiscal_year_be
