-- DOPA geography at subdistrict grain with its district and province (Thai and English).
select
    s.subdistrict_code,
    s.name_th as subdistrict_name_th,
    s.name_en as subdistrict_name_en,
    s.postal_code,
    d.district_code,
    d.name_th as district_name_th,
    d.name_en as district_name_en,
    p.province_code,
    p.name_th as province_name_th,
    p.name_en as province_name_en
from {{ ref('dopa_subdistricts') }} as s
inner join {{ ref('dopa_districts') }} as d on s.district_code = d.district_code
inner join {{ ref('dopa_provinces') }} as p on d.province_code = p.province_code
