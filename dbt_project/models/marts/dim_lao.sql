-- The LAO dimension: one row per LAO in the DLA registry.
select
    lao_code,
    lao_name_th,
    lao_type,
    lao_type_th,
    type_digit_mismatch,
    province_code,
    province_name_th,
    province_name_en,
    district_code,
    district_name_th,
    district_name_en,
    subdistrict_th,
    postal_code,
    area_km2,
    lat,
    lng
from {{ ref('stg_reference__laos') }}
