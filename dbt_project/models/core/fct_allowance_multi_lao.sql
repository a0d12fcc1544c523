{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=[
        "{{ require_touched_table('allowance_touched_people') }}",
        "{{ delete_touched(['person_key', 'payment_period'], allowance_people_touched()) }}",
    ],
    post_hook="{{ advance_watermark() }}",
) }}
-- depends_on: {{ ref('allowance_touched_people') }}
-- A person may be paid by one LAO only: people paid (regular payments) by two or more
-- LAOs in one period, one row per LAO involved. Recomputed, across all their LAOs, for
-- the people the build's changes touched (rows brought or retracted): index lookups on a
-- small night (a re-send), a hash join with the fact on a national one.
-- Grain: person_key x payment_period x lao_code.
with lines as (
    -- codes and hashes in byte order: the sort below covers every regular payment line
    -- of the touched people (all of them on a full refresh)
    select
        {{ bytewise('p.person_key') }} as person_key,
        p.payment_period,
        {{ bytewise('p.lao_code') }} as lao_code,
        p.amount,
        p.loaded_at
    from {{ ref('fct_allowance_payments') }} as p
    {% if is_incremental() %}
        inner join ({{ allowance_people_touched() }}) as t
            on p.person_key = t.person_key and p.payment_period = t.payment_period
    {% endif %}
    where
        p.is_paid and p.status = 'paid'
        {% if is_incremental() %}
            -- the touched periods only: a national night's hash join otherwise reads
            -- every period of the history (cost growing with it, not with the night)
            and p.payment_period in (
                select tpp.payment_period from ({{ allowance_people_touched() }}) as tpp
            )
        {% endif %}
),

per_lao as (
    select
        person_key,
        payment_period,
        lao_code,
        sum(amount) as amount,
        max(loaded_at) as loaded_at
    from lines
    group by person_key, payment_period, lao_code
),

counted as (
    -- one row per LAO, so counting a person's rows counts their distinct LAOs
    select
        *,
        count(*) over (partition by person_key, payment_period) as laos
    from per_lao
)

select
    {{ collate_default('person_key') }} as person_key,
    payment_period,
    {{ collate_default('lao_code') }} as lao_code,
    amount,
    loaded_at
from counted
where laos > 1
