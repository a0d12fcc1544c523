-- Rabies vaccination coverage per LAO and fiscal year against the target (default 80%).
-- Grain: lao_code x fiscal_year_be.
select
    v.lao_code,
    l.lao_name_th,
    l.lao_type,
    l.province_code,
    l.province_name_th,
    l.province_name_en,
    v.fiscal_year_be,
    {{ fiscal_year_start('v.fiscal_year_be') }} as fiscal_year_start_date,
    {{ is_current_fiscal_year('v.fiscal_year_be') }} as is_current_fiscal_year,
    count(distinct v.village_no)::bigint as villages_reported,
    sum(v.surveyed)::bigint as surveyed,
    sum(v.surveyed) filter (where v.species = 'dog')::bigint as dogs_surveyed,
    sum(v.surveyed) filter (where v.species = 'cat')::bigint as cats_surveyed,
    coalesce(sum(v.vaccinated), 0)::bigint as vaccinated,
    {{ rate('coalesce(sum(v.vaccinated), 0)', 'sum(v.surveyed)') }} as coverage_rate,
    coalesce(sum(v.vaccinated), 0) >= {{ var('rabies_coverage_target') }} * sum(v.surveyed) as meets_target,
    max(v.last_vaccination_date) as last_vaccination_date
from {{ ref('fct_vaccination_reports') }} as v
left join {{ ref('dim_lao') }} as l on v.lao_code = l.lao_code
group by
    v.lao_code, l.lao_name_th, l.lao_type, l.province_code, l.province_name_th,
    l.province_name_en, v.fiscal_year_be
