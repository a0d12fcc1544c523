-- Elderly allowance per LAO, payment period and age tier, with counts of findings. A cell
-- of fewer than small_cell_k recipients shows NULL measures and is_suppressed (PDPA); the
-- unsuppressed figures are in restricted.allowance_by_lao_period_detail.
-- Grain: lao_code x payment_period x age_tier.
with detail as (
    select
        *,
        {{ is_small_cell('recipients') }} as is_suppressed
    from {{ ref('allowance_by_lao_period_detail') }}
)

select
    lao_code,
    lao_name_th,
    lao_type,
    province_code,
    province_name_th,
    province_name_en,
    payment_period,
    payment_period_be,
    fiscal_year_be,
    age_tier,
    {{ unless_small('recipients') }} as recipients,
    {{ unless_small('payments') }} as payments,
    {{ unless_small('amount_paid') }} as amount_paid,
    {{ unless_small('failed_payments') }} as failed_payments,
    {{ unless_small('arrears_payments') }} as arrears_payments,
    {{ unless_small('amount_mismatch_count') }} as amount_mismatch_count,
    {{ unless_small('paid_late_count') }} as paid_late_count,
    {{ unless_small('paid_late_amount') }} as paid_late_amount,
    {{ unless_small('under_60_count') }} as under_60_count,
    is_suppressed,
    last_extract_date,
    is_latest_period
from detail
