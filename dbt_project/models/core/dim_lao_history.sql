-- LAO attributes with validity ranges (from the registry snapshot): join facts on
-- lao_code and the fact's date between valid_from and valid_to to see the type of the time.
select
    lao_code,
    lao_name_th,
    lao_type,
    lao_type_th,
    province_code,
    district_code,
    dbt_valid_from::date as valid_from,
    coalesce(dbt_valid_to::date, '9999-12-31'::date) as valid_to,
    dbt_valid_to is null as is_current
from {{ ref('snap_lao') }}
