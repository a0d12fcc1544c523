{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched(['extract_date', 'lao_code'], changed_lao_nights('allowance')) }}",
    post_hook="{{ advance_watermark() }}",
    indexes=[
        {'columns': ['extract_date', 'lao_code']},
        {'columns': ['payment_period', 'lao_code']},
        {'columns': ['payment_period', 'hashtext(person_key)']},
    ],
) }}
-- Allowance payment lines keyed by the pseudonymised person, with the tier checks.
-- Grain: one row per payment line received. Incremental: every LAO-night the ledger
-- changed since the last build is deleted and rebuilt whole from its current rows, so a
-- re-sent file replaces it and a header-only re-send empties it.
-- The person lookup index (fct_allowance_multi_lao, erasure) leads with payment_period: a
-- night's lines are nearly all of the current period, so their entries land in that
-- period's part of the index instead of on every page of it (person_key is a random
-- hash). It holds hashtext(person_key), 4 bytes instead of 65: a quarter of the size, and
-- a national night's insert 4-5 s faster; a lookup adds hashtext(...) = hashtext(key).
with payments as (
    select p.*
    from {{ ref('stg_allowance__payments') }} as p
    {% if is_incremental() %}
        inner join ({{ changed_lao_nights('allowance') }}) as changed
            on p.extract_date = changed.extract_date and p.lao_code = changed.lao_code
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
    -- offset 0 keeps this a subquery of its own: pulled up into the select below, each
    -- age() would be computed again in every tier case that reads it (up to 14 a line,
    -- the larger part of this model's time); it skips no row
    offset 0  -- noqa: AM09
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
    and (amount is distinct from ({{ allowance_tier_amount('age_oldest') }}))
    and (amount is distinct from ({{ allowance_tier_amount('age_youngest') }}))
        as amount_mismatch,
    age_oldest < 60 as under_60,
    {{ allowance_deadline('payment_period') }} as payment_deadline,
    status = 'paid' and paid_on > {{ allowance_deadline('payment_period') }} as paid_late,
    load_id,
    loaded_at
from aged
