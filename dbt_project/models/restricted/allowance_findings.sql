-- Allowance findings to follow up (one row per finding). Findings are not rejections:
-- the payment was made and loaded; these say what to check.
-- Grain: finding x person_key x lao_code x payment_period.
with findings as (
    select
        finding,
        person_key,
        lao_code,
        payment_period,
        amount,
        detail
    from {{ ref('fct_allowance_line_findings') }}
    union all
    select
        'paid_by_two_laos',
        person_key,
        lao_code,
        payment_period,
        amount,
        'also paid by another LAO this period'
    from {{ ref('fct_allowance_multi_lao') }}
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
    x.amount::numeric(18, 2) as amount,
    x.detail
from findings as x
left join {{ ref('dim_lao') }} as l on x.lao_code = l.lao_code
