-- Revenue receipt lines without the clear taxpayer ID (taxpayer_key is a keyed hash).
select
    load_id,
    lao_code,
    extract_date,
    source_file,
    row_no,
    receipt_no,
    receipt_date,
    account_code,
    revenue_type,
    parcel_id,
    taxpayer_key,
    amount,
    fiscal_year,
    status,
    loaded_at
from {{ source('raw', 'tax_receipts') }}
