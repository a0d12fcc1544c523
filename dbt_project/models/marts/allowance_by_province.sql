-- Allowance per province, payment period and age tier, with timeliness.
-- recipients sums the LAOs' recipients: exact, since a person may be paid by one LAO only
-- (anyone paid by two is listed in allowance_findings as paid_by_two_laos).
-- Grain: province_code x payment_period x age_tier.
select
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    a.payment_period,
    a.fiscal_year_be,
    a.age_tier,
    count(distinct a.lao_code)::bigint as paying_laos,
    sum(a.recipients)::bigint as recipients,
    sum(a.amount_paid)::numeric(18, 2) as amount_paid,
    sum(a.regular_payments)::bigint as regular_payments,
    sum(a.paid_on_time)::bigint as paid_on_time,
    round(100.0 * sum(a.paid_on_time) / nullif(sum(a.regular_payments), 0), 2)::numeric(5, 2)
        as pct_on_time,
    sum(a.failed_payments)::bigint as failed_payments,
    sum(a.arrears_payments)::bigint as arrears_payments
from {{ ref('agg_allowance_lao_period') }} as a
inner join {{ ref('dim_lao') }} as l on l.lao_code = a.lao_code
group by l.province_code, l.province_name_th, l.province_name_en, a.payment_period,
    a.fiscal_year_be, a.age_tier
