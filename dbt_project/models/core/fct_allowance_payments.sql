{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['extract_date', 'lao_code'],
    indexes=[
        {'columns': ['extract_date', 'lao_code']},
        {'columns': ['payment_period', 'lao_code']},
        {'columns': ['person_key', 'payment_period']},
        {'columns': ['loaded_at']},
    ],
) }}
-- Allowance payment lines keyed by the pseudonymised person, with the tier checks.
-- Grain: one row per payment line received. Incremental: the (night, LAO) pairs that
-- received rows since the last build are rebuilt whole (a re-sent file replaces them).
with payments as (
    select p.*
    from {{ ref('stg_allowance__payments') }} as p
    {% if is_incremental() %}
    -- every row of each (night, LAO) that received rows since the last build: the
    -- delete+insert replaces whole LAO-nights, so the batch must hold all of their rows
    inner join (
        select distinct extract_date, lao_code
        from {{ ref('stg_allowance__payments') }}
        where {{ loaded_since_watermark() }}
    ) as touched on touched.extract_date = p.extract_date and touched.lao_code = p.lao_code
    {% endif %}
),

aged as (
    select
        *,
        -- a new tier applies from the month after the birthday: the age that counts is the
        -- age on the last day of the previous month; unknown birth day/month allow a range
        {{ age_on('birth_date', '(payment_period - 1)') }} as age_oldest,
        {{ age_on('birth_date_latest', '(payment_period - 1)') }} as age_youngest
    from payments
)

select
    person_key,
    lao_code,
    extract_date,
    payment_period,
    {{ fiscal_year_be('payment_period') }} as fiscal_year_be,
    paid_on,
    amount,
    channel,
    status,
    status in ('paid', 'arrears') as is_paid,
    birth_date,
    birth_date_precision,
    age_oldest as age,
    {{ allowance_tier('age_oldest') }} as age_tier,
    {{ allowance_tier_amount('age_oldest') }} as tier_amount,
    status <> 'failed'
        and amount is distinct from {{ allowance_tier_amount('age_oldest') }}
        and amount is distinct from {{ allowance_tier_amount('age_youngest') }}
        as amount_mismatch,
    age_oldest < 60 as under_60,
    {{ allowance_deadline('payment_period') }} as payment_deadline,
    status = 'paid' and paid_on > {{ allowance_deadline('payment_period') }} as paid_late,
    load_id,
    loaded_at
from aged
