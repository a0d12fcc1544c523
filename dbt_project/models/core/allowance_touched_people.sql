{{ config(
    materialized='table',
    post_hook=["analyze {{ this }}", "{{ advance_watermark() }}"],
) }}
-- The (person, payment period) pairs this build's allowance changes touched, found once for
-- fct_allowance_multi_lao (its pre-hook and its select). Grain: person_key x payment_period.
{{ allowance_touched('person_key', consumers=['fct_allowance_multi_lao']) }}
