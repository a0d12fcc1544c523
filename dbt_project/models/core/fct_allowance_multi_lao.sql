{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched(['person_key', 'payment_period'], touched_keys('allowance', 'person_key, payment_period', ref('stg_allowance__payments'), ref('stg_allowance__payments_retracted'))) }}",
    post_hook="{{ advance_watermark() }}",
) }}
-- A person may be paid by one LAO only: people paid (regular payments) by two or more
-- LAOs in one period, one row per LAO involved. Recomputed, across all their LAOs, for
-- the people the build's changes touched (rows brought or retracted): an index lookup
-- per person, not a scan of the period.
-- Grain: person_key x payment_period x lao_code.
with touched as (
    {% if is_incremental() %}
        {{ touched_keys('allowance', 'person_key, payment_period', ref('stg_allowance__payments'), ref('stg_allowance__payments_retracted')) }}
    {% else %}
        select distinct
            person_key,
            payment_period
        from {{ ref('fct_allowance_payments') }}
        where is_paid and status = 'paid'
    {% endif %}
),

lines as (
    select
        p.person_key,
        p.payment_period,
        p.lao_code,
        p.amount,
        p.loaded_at
    from {{ ref('fct_allowance_payments') }} as p
    inner join touched as t on p.person_key = t.person_key and p.payment_period = t.payment_period
    where p.is_paid and p.status = 'paid'
),

several as (
    select
        person_key,
        payment_period
    from lines
    group by person_key, payment_period
    having count(distinct lao_code) > 1
)

select
    l.person_key,
    l.payment_period,
    l.lao_code,
    sum(l.amount) as amount,
    max(l.loaded_at) as loaded_at
from lines as l
inner join several on l.person_key = several.person_key and l.payment_period = several.payment_period
group by l.person_key, l.payment_period, l.lao_code
