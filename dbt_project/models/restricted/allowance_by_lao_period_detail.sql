-- Elderly allowance per LAO, payment period and age tier, with counts of findings,
-- without small-cell suppression (restricted: auditors only; the open mart
-- allowance_by_lao_period hides cells of fewer than small_cell_k recipients).
-- Grain: lao_code x payment_period x age_tier.
select
    a.lao_code,
    l.lao_name_th,
    l.lao_type,
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    a.payment_period,
    lpad(extract(month from a.payment_period)::text, 2, '0') || '/'
    || {{ be_year('a.payment_period') }}::text as payment_period_be,
    a.fiscal_year_be,
    a.age_tier,
    a.recipients,
    a.payments,
    a.amount_paid,
    a.failed_payments,
    a.arrears_payments,
    a.amount_mismatch_count,
    a.paid_late_count,
    a.paid_late_amount,
    a.under_60_count,
    a.last_extract_date,
    {{ is_latest('a.payment_period') }} as is_latest_period
from {{ ref('agg_allowance_lao_period') }} as a
left join {{ ref('dim_lao') }} as l on a.lao_code = l.lao_code
