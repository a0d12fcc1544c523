{{ config(
    materialized='table',
    post_hook=["analyze {{ this }}", "{{ advance_watermark() }}"],
) }}
-- The (LAO, payment period) groups this build's allowance changes touched, found once for
-- the models that recompute by group. Grain: lao_code x payment_period.
select
    {{ collate_default('k.lao_code') }} as lao_code,
    k.payment_period
from (
    {{ touched_table(
        'allowance',
        bytewise('lao_code') ~ ' as lao_code, payment_period',
        ref('stg_allowance__payments'),
        ref('stg_allowance__payments_retracted'),
        consumers=['agg_allowance_lao_period', 'fct_allowance_line_findings'],
        empty='select null::text as lao_code, null::date as payment_period',
    ) }}
) as k
