{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=[
        "{{ require_built_in_this_build('allowance_touched_groups') }}",
        "{{ delete_touched(['lao_code', 'payment_period'], allowance_groups_touched()) }}",
    ],
    post_hook="{{ advance_watermark() }}",
) }}
-- depends_on: {{ ref('allowance_touched_groups') }}
-- Allowance aggregated per LAO, payment period and age tier: the base of the allowance
-- marts, so a night re-aggregates only the (LAO, period) groups it touched.
-- Grain: lao_code x payment_period x age_tier.
with lines as (
    -- the sort keys in byte order: counting distinct people sorts every line of the
    -- touched groups, and byte comparison is several times cheaper than the locale's
    select
        {{ bytewise('f.lao_code') }} as lao_code,
        f.payment_period,
        f.fiscal_year_be,
        {{ bytewise('f.age_tier') }} as age_tier,
        {{ bytewise('f.person_key') }} as person_key,
        f.is_paid,
        f.amount,
        f.status,
        f.paid_late,
        f.amount_mismatch,
        f.under_60,
        f.extract_date,
        f.loaded_at
    from {{ ref('fct_allowance_payments') }} as f
    {{ only_touched_groups('f') }}
)

select
    {{ collate_default('lao_code') }} as lao_code,
    payment_period,
    fiscal_year_be,
    {{ collate_default('age_tier') }} as age_tier,
    count(distinct person_key) filter (where is_paid)::bigint as recipients,
    count(*) filter (where is_paid)::bigint as payments,
    coalesce(sum(amount) filter (where is_paid), 0)::numeric(18, 2) as amount_paid,
    count(*) filter (where status = 'paid')::bigint as regular_payments,
    count(*) filter (where status = 'paid' and not paid_late)::bigint as paid_on_time,
    count(*) filter (where status = 'failed')::bigint as failed_payments,
    count(*) filter (where status = 'arrears')::bigint as arrears_payments,
    count(*) filter (where amount_mismatch)::bigint as amount_mismatch_count,
    count(*) filter (where paid_late)::bigint as paid_late_count,
    coalesce(sum(amount) filter (where paid_late), 0)::numeric(18, 2) as paid_late_amount,
    count(*) filter (where under_60)::bigint as under_60_count,
    max(extract_date) as last_extract_date,
    max(loaded_at) as loaded_at
from lines
group by lao_code, payment_period, fiscal_year_be, age_tier
