-- Rabies vaccination coverage per province and fiscal year.
-- Grain: province_code x fiscal_year_be.
select
    province_code,
    province_name_th,
    province_name_en,
    fiscal_year_be,
    fiscal_year_start_date,
    is_current_fiscal_year,
    count(*)::bigint as laos_reported,
    sum(surveyed)::bigint as surveyed,
    sum(vaccinated)::bigint as vaccinated,
    {{ rate('sum(vaccinated)', 'sum(surveyed)') }} as coverage_rate,
    sum(vaccinated) >= {{ var('rabies_coverage_target') }} * sum(surveyed) as meets_target,
    count(*) filter (where meets_target)::bigint as laos_meeting_target
from {{ ref('rabies_coverage_by_lao') }}
group by
    province_code, province_name_th, province_name_en, fiscal_year_be,
    fiscal_year_start_date, is_current_fiscal_year
