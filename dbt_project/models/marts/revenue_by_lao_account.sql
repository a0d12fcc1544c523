-- Own-revenue collection per LAO, fiscal year and account: fiscal year-to-date against the
-- same span of the previous fiscal year. A cell of fewer than small_cell_k receipts (this
-- year or last) shows NULL amounts and is_suppressed (PDPA); the unsuppressed figures are
-- in restricted.revenue_by_lao_account_detail. Grain: lao_code x fiscal_year_be x account_code.
with detail as (
    select
        *,
        {{ is_small_cell('receipts_ytd') }} or {{ is_small_cell('receipts_prev_ytd') }} as is_suppressed
    from {{ ref('revenue_by_lao_account_detail') }}
)

select
    lao_code,
    lao_name_th,
    lao_type,
    province_code,
    province_name_th,
    province_name_en,
    fiscal_year_be,
    fiscal_year_start_date,
    is_current_fiscal_year,
    as_of_date,
    account_code,
    account_name_th,
    account_name_en,
    is_land_building_tax,
    {{ unless_small('amount_ytd') }} as amount_ytd,
    {{ unless_small('amount_prev_ytd') }} as amount_prev_ytd,
    {{ unless_small('growth_rate') }} as growth_rate,
    {{ unless_small('share_of_lao_revenue_rate') }} as share_of_lao_revenue_rate,
    {{ unless_small('receipts_ytd') }} as receipts_ytd,
    {{ unless_small('cancelled_ytd') }} as cancelled_ytd,
    {{ unless_small('receipts_prev_ytd') }} as receipts_prev_ytd,
    is_suppressed
from detail
