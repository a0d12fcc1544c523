-- Allowance payment lines without the clear citizen ID (person_key is a keyed hash).
-- Unknown birth day/month (00) is imputed as the 1st; birth_date_latest is the
-- latest date the person could have been born, so tier checks can allow for it.
select
    load_id,
    lao_code,
    extract_date,
    source_file,
    row_no,
    person_key,
    birth_date,
    birth_date_precision,
    case birth_date_precision
        when 'year' then (date_trunc('year', birth_date) + interval '1 year - 1 day')::date
        when 'month' then (date_trunc('month', birth_date) + interval '1 month - 1 day')::date
        else birth_date
    end as birth_date_latest,
    payment_period,
    amount,
    paid_on,
    channel,
    status,
    loaded_at
from {{ source('raw', 'allowance_payments') }}
