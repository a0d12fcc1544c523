-- Rabies vaccination coverage per province and fiscal year.
-- Grain: province_code x fiscal_year_be.
select
    province_code,
    province_name_th,
    province_name_en,
    fiscal_year_be,
    count(*)::bigint as laos_reported,
    sum(surveyed)::bigint as surveyed,
    sum(vaccinated)::bigint as vaccinated,
    round(sum(vaccinated)::numeric / nullif(sum(surveyed), 0), 4)::numeric(6, 4) as coverage,
    sum(vaccinated) >= {{ var('rabies_coverage_target') }} * sum(surveyed) as meets_target,
    count(*) filter (where meets_target)::bigint as laos_meeting_target
from {{ ref('rabies_coverage_by_lao') }}
group by province_code, province_name_th, province_name_en, fiscal_year_be
