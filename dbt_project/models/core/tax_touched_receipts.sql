{{ config(
    materialized='table',
    post_hook=["analyze {{ this }}", "{{ advance_watermark() }}"],
) }}
-- The receipts this build's tax changes touched (rows brought or retracted since
-- fct_tax_receipts' watermark), found once for the fact's delete, its select and the
-- revenue deltas it writes (each used to find them again: ~0.65 s a national night).
-- Empty on a full refresh. Grain: lao_code x fiscal_year_be x receipt_no.
{{ touched_table(
    'tax',
    'lao_code, fiscal_year as fiscal_year_be, receipt_no',
    ref('stg_tax__receipts'),
    ref('stg_tax__receipts_retracted'),
    consumers=['fct_tax_receipts'],
    empty='select null::text as lao_code, null::integer as fiscal_year_be, null::text as receipt_no',
) }}
