{{ config(
    materialized='table',
    post_hook=["analyze {{ this }}", "{{ advance_watermark() }}"],
) }}
-- The (LAO, payment period) groups this build's allowance changes touched, found once for
-- the models that recompute by group. Grain: lao_code x payment_period.
{{ allowance_touched('lao_code', consumers=['agg_allowance_lao_period', 'fct_allowance_line_findings', 'agg_allowance_findings_lao_period']) }}
