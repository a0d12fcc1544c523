{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched(['lao_code', 'payment_period'], allowance_groups_touched()) }}",
    post_hook="{{ advance_watermark() }}",
) }}
-- Findings visible on an LAO's own payment lines (tier mismatch, under 60, failed,
-- arrears, late), recomputed for the (LAO, period) groups a night touched.
-- Grain: finding x person_key x lao_code x payment_period.
with touched as (
    {% if is_incremental() %}
        {{ allowance_groups_touched() }}
    {% else %}
        select distinct
            lao_code,
            payment_period
        from {{ ref('fct_allowance_payments') }}
    {% endif %}
),

f as (
    select p.*
    from {{ ref('fct_allowance_payments') }} as p
    inner join touched as t on p.lao_code = t.lao_code and p.payment_period = t.payment_period
)

select
    'amount_not_matching_tier' as finding,
    person_key,
    lao_code,
    payment_period,
    sum(amount) as amount,
    'paid ' || string_agg(distinct amount::text, ', ')
    || ', tier ' || coalesce(max(tier_amount)::text, 'none (under 60)') as detail,
    max(loaded_at) as loaded_at
from f
where amount_mismatch
group by person_key, lao_code, payment_period
union all
select
    'under_60',
    person_key,
    lao_code,
    payment_period,
    sum(amount),
    'age ' || min(age)::text,
    max(loaded_at)
from f
where under_60 and is_paid
group by person_key, lao_code, payment_period
union all
select
    'failed_payment',
    person_key,
    lao_code,
    payment_period,
    sum(amount),
    count(*)::text || ' failed line(s)',
    max(loaded_at)
from f
where status = 'failed'
group by person_key, lao_code, payment_period
union all
select
    'arrears',
    person_key,
    lao_code,
    payment_period,
    sum(amount),
    'paid on ' || max(paid_on)::text,
    max(loaded_at)
from f
where status = 'arrears'
group by person_key, lao_code, payment_period
union all
select
    'paid_after_deadline',
    person_key,
    lao_code,
    payment_period,
    sum(amount),
    'paid on ' || max(paid_on)::text || ', deadline ' || max(payment_deadline)::text,
    max(loaded_at)
from f
where paid_late
group by person_key, lao_code, payment_period
