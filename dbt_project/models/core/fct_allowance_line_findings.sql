{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=[
        "{{ require_built_in_this_build('allowance_touched_groups') }}",
        "{{ delete_touched(['lao_code', 'payment_period'], allowance_groups_touched()) }}",
    ],
    post_hook="{{ advance_watermark() }}",
    indexes=[{'columns': ['payment_period', 'lao_code']}],
) }}
-- depends_on: {{ ref('allowance_touched_groups') }}
-- Findings visible on an LAO's own payment lines (tier mismatch, under 60, failed,
-- arrears, late), recomputed for the (LAO, period) groups a night touched. The index on
-- (payment_period, lao_code) finds those groups' rows for the delete, the findings counts
-- and allowance_findings' copy (each scanned every finding of history before).
-- Grain: finding x person_key x lao_code x payment_period.
with f as (
    -- only the lines some finding below can use (most lines of a period have none), so
    -- the five branches share a small set instead of every line of the touched groups
    select
        p.person_key,
        p.lao_code,
        p.payment_period,
        p.amount,
        p.tier_amount,
        p.age,
        p.paid_on,
        p.payment_deadline,
        p.status,
        p.is_paid,
        p.under_60,
        p.amount_mismatch,
        p.paid_late,
        p.loaded_at
    from {{ ref('fct_allowance_payments') }} as p
    {{ only_touched_groups('p') }}
    where
        p.amount_mismatch
        or (p.under_60 and p.is_paid)
        or p.status in ('failed', 'arrears')
        or p.paid_late
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
