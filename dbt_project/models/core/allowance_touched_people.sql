{{ config(
    materialized='table',
    post_hook=["analyze {{ this }}", "{{ advance_watermark() }}"],
) }}
-- The (person, payment period) pairs this build's allowance changes touched, found once for
-- fct_allowance_multi_lao (its pre-hook and its select). Grain: person_key x payment_period.
select
    {{ collate_default('k.person_key') }} as person_key,
    k.payment_period
from (
    {{ touched_table(
        'allowance',
        bytewise('person_key') ~ ' as person_key, payment_period',
        ref('stg_allowance__payments'),
        ref('stg_allowance__payments_retracted'),
        consumers=['fct_allowance_multi_lao'],
        empty='select null::text as person_key, null::date as payment_period',
    ) }}
) as k
