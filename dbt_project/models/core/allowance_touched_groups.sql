{{ config(
    materialized='table',
    post_hook=["analyze {{ this }}", "{{ log_touched_groups() }}", "{{ advance_watermark() }}"],
) }}
-- The (LAO, payment period) groups this build's allowance changes touched, found once for
-- the models that recompute by group. Grain: lao_code x payment_period.
-- Also logged with its window of changes (core.allowance_touched_groups_log) for the kept
-- copies of allowance_findings, which are a build or more behind.
{{ allowance_touched('lao_code', consumers=allowance_group_consumers()) }}
