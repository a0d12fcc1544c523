-- Elderly allowance per LAO, payment period and age tier, with counts of findings.
-- Grain: lao_code x payment_period x age_tier.
with payments as (
    select
        p.*,
        -- the tier that applies is set by the age at the end of the previous month
        {{ age_on('p.birth_date', '(p.payment_period - 1)') }} as age_oldest,
        {{ age_on('p.birth_date_latest', '(p.payment_period - 1)') }} as age_youngest
    from {{ ref('stg_allowance__payments') }} as p
),

checked as (
    select
        *,
        {{ allowance_tier('age_oldest') }} as age_tier,
        status in ('paid', 'arrears') as is_paid,
        -- the amount must match the tier for some birth date the record allows
        status <> 'failed'
            and amount is distinct from {{ allowance_tier_amount('age_oldest') }}
            and amount is distinct from {{ allowance_tier_amount('age_youngest') }}
            as amount_mismatch,
        status = 'paid'
            and paid_on > payment_period + ({{ var('allowance_payment_deadline_day') }} - 1)
            as paid_after_deadline,
        age_oldest < 60 as under_60
    from payments
)

select
    c.lao_code,
    l.lao_name_th,
    l.lao_type,
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    c.payment_period,
    lpad(extract(month from c.payment_period)::text, 2, '0') || '/'
        || {{ be_year('c.payment_period') }}::text as payment_period_be,
    {{ fiscal_year_be('c.payment_period') }} as fiscal_year_be,
    c.age_tier,
    count(distinct c.person_key) filter (where c.is_paid) as recipients,
    count(*) filter (where c.is_paid) as payments,
    coalesce(sum(c.amount) filter (where c.is_paid), 0)::numeric(16, 2) as amount_paid,
    count(*) filter (where c.status = 'failed') as failed_payments,
    count(*) filter (where c.status = 'arrears') as arrears_payments,
    count(*) filter (where c.amount_mismatch) as amount_mismatch_count,
    count(*) filter (where c.paid_after_deadline) as paid_after_deadline_count,
    count(*) filter (where c.under_60) as under_60_count,
    max(c.extract_date) as last_extract_date
from checked as c
left join {{ ref('dim_lao') }} as l on l.lao_code = c.lao_code
group by
    c.lao_code, l.lao_name_th, l.lao_type, l.province_code, l.province_name_th,
    l.province_name_en, c.payment_period, c.age_tier
