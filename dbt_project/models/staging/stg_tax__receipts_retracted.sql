-- Keys of tax receipt rows a re-send replaced (no clear IDs).
select
    extract_date,
    lao_code,
    fiscal_year,
    receipt_no,
    retracted_change_id
from {{ source('raw', 'tax_receipts_retracted') }}
