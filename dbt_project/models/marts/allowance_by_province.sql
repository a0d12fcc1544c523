-- Allowance per province, payment period and age tier, with timeliness.
-- Grain: province_code x payment_period x age_tier.
select
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    f.payment_period,
    f.fiscal_year_be,
    f.age_tier,
    count(distinct f.lao_code)::bigint as paying_laos,
    count(distinct f.person_key) filter (where f.is_paid)::bigint as recipients,
    coalesce(sum(f.amount) filter (where f.is_paid), 0)::numeric(18, 2) as amount_paid,
    count(*) filter (where f.status = 'paid')::bigint as regular_payments,
    count(*) filter (where f.status = 'paid' and not f.paid_late)::bigint as paid_on_time,
    round(100.0 * count(*) filter (where f.status = 'paid' and not f.paid_late)
        / nullif(count(*) filter (where f.status = 'paid'), 0), 2)::numeric(5, 2) as pct_on_time,
    count(*) filter (where f.status = 'failed')::bigint as failed_payments,
    count(*) filter (where f.status = 'arrears')::bigint as arrears_payments
from {{ ref('fct_allowance_payments') }} as f
inner join {{ ref('dim_lao') }} as l on l.lao_code = f.lao_code
group by l.province_code, l.province_name_th, l.province_name_en, f.payment_period,
    f.fiscal_year_be, f.age_tier
