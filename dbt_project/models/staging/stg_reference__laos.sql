-- One row per LAO in the DLA registry, with DOPA codes and English names attached.
-- DLA code = T PP DD SS: type digit, DOPA province, district number within the province.
with registry as (
    select * from {{ ref('dla_lao_registry') }}
),

provinces as (
    select * from {{ ref('dopa_provinces') }}
),

districts as (
    select * from {{ ref('dopa_districts') }}
)

select
    r.lao_code,
    r.lao_name_th,
    r.lao_type_th,
    case r.lao_type_th
        when 'อบจ.' then 'PAO'
        when 'เทศบาลนคร' then 'city_municipality'
        when 'เทศบาลเมือง' then 'town_municipality'
        when 'เทศบาลตำบล' then 'subdistrict_municipality'
        when 'อบต.' then 'SAO'
        else 'special'
    end as lao_type,
    substr(r.lao_code, 1, 1) as type_digit,
    -- an upgraded SAO keeps its 6-prefix code: a warning, not an error
    substr(r.lao_code, 1, 1) <> case r.lao_type_th
        when 'อบจ.' then '2' when 'เทศบาลนคร' then '3' when 'เทศบาลเมือง' then '4'
        when 'เทศบาลตำบล' then '5' when 'อบต.' then '6' else '3'
    end as type_digit_mismatch,
    substr(r.lao_code, 2, 2) as province_code,
    coalesce(p.name_th, r.province_th) as province_name_th,
    p.name_en as province_name_en,
    d.district_code,
    coalesce(d.name_th, r.district_th) as district_name_th,
    d.name_en as district_name_en,
    r.subdistrict_th,
    r.postal_code,
    r.area_km2,
    r.lat,
    r.lng
from registry as r
left join provinces as p
    on p.province_code = substr(r.lao_code, 2, 2)
left join districts as d
    on d.district_code = substr(r.lao_code, 2, 4)
