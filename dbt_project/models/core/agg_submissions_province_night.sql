{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ reporting_nights_plan_delete(registry_provinces_digest()) }}",
    post_hook="{{ advance_watermark(registry_provinces_digest()) }}",
    indexes=[{'columns': ['extract_date', 'source', 'province_code'], 'unique': True}],
) }}
-- depends_on: {{ ref('reporting_lao_nights') }}
-- How many registered LAOs reported, sent an unusable file or sent nothing, per source,
-- night and province (the shared definition of "reported": core.fct_submissions), so
-- reporting_compliance reads 228 rows a night instead of every submission of history. A
-- build recomputes the nights reporting_lao_nights marked pending (macros/reporting.sql),
-- and every night when an LAO's province in the registry changed.
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
    count(*) filter (where s.status = 'missing')::bigint as laos_missing
from {{ reporting_nights_rows(ref('fct_submissions'), 's', redo=true) }} as s
inner join {{ ref('dim_lao') }} as l on s.lao_code = l.lao_code
group by
    s.source, s.extract_date, s.fiscal_year_be, l.province_code, l.province_name_th,
    l.province_name_en
