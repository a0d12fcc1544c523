-- Allowance per province, payment period and age tier, with timeliness.
-- recipients sums the LAOs' recipients: exact, since a person may be paid by one LAO only
-- (anyone paid by two is listed in allowance_findings as paid_by_two_laos).
-- payment_period is the month paid (a date, the 1st); is_latest_period marks the latest
-- month in the mart, so "last month" is a column, not a guess.
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
    {{ baht('sum(a.amount_paid)') }} as amount_paid,
    sum(a.regular_payments)::bigint as regular_payments,
    sum(a.paid_on_time)::bigint as paid_on_time,
    {{ rate('sum(a.paid_on_time)', 'sum(a.regular_payments)') }} as on_time_rate,
    sum(a.paid_late_count)::bigint as paid_late_count,
    {{ baht('sum(a.paid_late_amount)') }} as paid_late_amount,
    sum(a.failed_payments)::bigint as failed_payments,
    sum(a.arrears_payments)::bigint as arrears_payments,
    {{ is_latest('a.payment_period') }} as is_latest_period
from {{ ref('agg_allowance_lao_period') }} as a
inner join {{ ref('dim_lao') }} as l on a.lao_code = l.lao_code
group by
    l.province_code, l.province_name_th, l.province_name_en, a.payment_period,
    a.fiscal_year_be, a.age_tier
