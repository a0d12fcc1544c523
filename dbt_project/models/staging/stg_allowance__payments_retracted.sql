-- Keys of allowance rows a re-send replaced (no clear IDs): incremental models recompute
-- the groups these rows used to touch.
select
    extract_date,
    lao_code,
    payment_period,
    person_key,
    retracted_change_id
from {{ source('raw', 'allowance_payments_retracted') }}
