-- Elderly allowance per LAO, payment period and age tier, with counts of findings.
-- Grain: lao_code x payment_period x age_tier.
select
    f.lao_code,
    l.lao_name_th,
    l.lao_type,
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    f.payment_period,
    lpad(extract(month from f.payment_period)::text, 2, '0') || '/'
        || {{ be_year('f.payment_period') }}::text as payment_period_be,
    f.fiscal_year_be,
    f.age_tier,
    count(distinct f.person_key) filter (where f.is_paid)::bigint as recipients,
    count(*) filter (where f.is_paid)::bigint as payments,
    coalesce(sum(f.amount) filter (where f.is_paid), 0)::numeric(16, 2) as amount_paid,
    count(*) filter (where f.status = 'failed')::bigint as failed_payments,
    count(*) filter (where f.status = 'arrears')::bigint as arrears_payments,
    count(*) filter (where f.amount_mismatch)::bigint as amount_mismatch_count,
    count(*) filter (where f.paid_late)::bigint as paid_after_deadline_count,
    count(*) filter (where f.under_60)::bigint as under_60_count,
    max(f.extract_date) as last_extract_date
from {{ ref('fct_allowance_payments') }} as f
left join {{ ref('dim_lao') }} as l on l.lao_code = f.lao_code
group by
    f.lao_code, l.lao_name_th, l.lao_type, l.province_code, l.province_name_th,
    l.province_name_en, f.payment_period, f.fiscal_year_be, f.age_tier
