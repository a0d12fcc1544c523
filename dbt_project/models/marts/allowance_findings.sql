-- Allowance findings to follow up (one row per finding). Findings are not rejections:
-- the payment was made and loaded; these say what to check.
-- Grain: finding x person_key x lao_code x payment_period.
with f as (
    select * from {{ ref('fct_allowance_payments') }}
),

line_findings as (
    select 'amount_not_matching_tier' as finding, person_key, lao_code, payment_period,
        sum(amount) as amount, 'paid ' || string_agg(distinct amount::text, ', ')
            || ', tier ' || max(tier_amount)::text as detail
    from f where amount_mismatch group by person_key, lao_code, payment_period
    union all
    select 'under_60', person_key, lao_code, payment_period, sum(amount),
        'age ' || min(age)::text
    from f where under_60 and is_paid group by person_key, lao_code, payment_period
    union all
    select 'failed_payment', person_key, lao_code, payment_period, sum(amount),
        count(*)::text || ' failed line(s)'
    from f where status = 'failed' group by person_key, lao_code, payment_period
    union all
    select 'arrears', person_key, lao_code, payment_period, sum(amount),
        'paid on ' || max(paid_on)::text
    from f where status = 'arrears' group by person_key, lao_code, payment_period
    union all
    select 'paid_after_deadline', person_key, lao_code, payment_period, sum(amount),
        'paid on ' || max(paid_on)::text || ', deadline ' || max(payment_deadline)::text
    from f where paid_late group by person_key, lao_code, payment_period
),

paid_by_several as (
    -- a person may be paid by one LAO only
    select person_key, payment_period
    from f
    where is_paid and status = 'paid'
    group by person_key, payment_period
    having count(distinct lao_code) > 1
),

multi as (
    select 'paid_by_two_laos' as finding, f.person_key, f.lao_code, f.payment_period,
        sum(f.amount) as amount, 'also paid by another LAO this period' as detail
    from f
    inner join paid_by_several as p using (person_key, payment_period)
    where f.is_paid and f.status = 'paid'
    group by f.person_key, f.lao_code, f.payment_period
),

findings as (
    select * from line_findings
    union all
    select * from multi
)

select
    x.finding,
    x.person_key,
    x.lao_code,
    l.lao_name_th,
    l.province_code,
    l.province_name_en,
    x.payment_period,
    {{ fiscal_year_be('x.payment_period') }} as fiscal_year_be,
    x.amount::numeric(14, 2) as amount,
    x.detail
from findings as x
left join {{ ref('dim_lao') }} as l on l.lao_code = x.lao_code
