{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=[
        "{{ require_reporting_aggregates_built() }}",
        "{{ delete_touched(['fiscal_year_be'], reporting_pending_years()) }}",
    ],
    post_hook=["{{ reporting_years_consumed() }}", "{{ advance_watermark() }}"],
    indexes=[{'columns': ['lao_code', 'fiscal_year_be'], 'unique': True}],
) }}
-- the reporting marts' aggregates read the pending nights before this model clears them
-- depends_on: {{ ref('agg_submissions_province_night') }}
-- depends_on: {{ ref('fct_missing_submissions') }}
-- Nights per LAO and fiscal year, and on how many of them it reported all three sources:
-- the scorecard's reporting rate; and the first and last night it reported vaccination
-- (rabies_followup). A build re-aggregates only the fiscal years of the
-- nights core.reporting_lao_nights recomputed (macros/reporting.sql).
-- Grain: lao_code x fiscal_year_be.
select
    r.lao_code,
    r.fiscal_year_be,
    count(*)::integer as nights,
    count(*) filter (where r.sources_reported = 3)::integer as nights_all_reported,
    min(r.extract_date) filter (where r.vaccination_reported) as first_vaccination_reported,
    max(r.extract_date) filter (where r.vaccination_reported) as last_vaccination_reported
from {{ ref('reporting_lao_nights') }} as r
{% if is_incremental() %}
    where r.fiscal_year_be in ({{ reporting_pending_years() }})
{% endif %}
group by r.lao_code, r.fiscal_year_be
