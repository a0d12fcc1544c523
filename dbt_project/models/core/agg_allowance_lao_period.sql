{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched(['lao_code', 'payment_period'], allowance_groups_touched()) }}",
    post_hook="{{ advance_watermark() }}",
) }}
-- Allowance aggregated per LAO, payment period and age tier: the base of the allowance
-- marts, so a night re-aggregates only the (LAO, period) groups it touched.
-- Grain: lao_code x payment_period x age_tier.
with touched as (
    {% if is_incremental() %}
        {{ allowance_groups_touched() }}
    {% else %}
        select distinct
            lao_code,
            payment_period
        from {{ ref('fct_allowance_payments') }}
    {% endif %}
)

select
    f.lao_code,
    f.payment_period,
    f.fiscal_year_be,
    f.age_tier,
    count(distinct f.person_key) filter (where f.is_paid)::bigint as recipients,
    count(*) filter (where f.is_paid)::bigint as payments,
    coalesce(sum(f.amount) filter (where f.is_paid), 0)::numeric(18, 2) as amount_paid,
    count(*) filter (where f.status = 'paid')::bigint as regular_payments,
    count(*) filter (where f.status = 'paid' and not f.paid_late)::bigint as paid_on_time,
    count(*) filter (where f.status = 'failed')::bigint as failed_payments,
    count(*) filter (where f.status = 'arrears')::bigint as arrears_payments,
    count(*) filter (where f.amount_mismatch)::bigint as amount_mismatch_count,
    count(*) filter (where f.paid_late)::bigint as paid_late_count,
    coalesce(sum(f.amount) filter (where f.paid_late), 0)::numeric(18, 2) as paid_late_amount,
    count(*) filter (where f.under_60)::bigint as under_60_count,
    max(f.extract_date) as last_extract_date,
    max(f.loaded_at) as loaded_at
from {{ ref('fct_allowance_payments') }} as f
inner join touched as t on f.lao_code = t.lao_code and f.payment_period = t.payment_period
group by f.lao_code, f.payment_period, f.fiscal_year_be, f.age_tier
