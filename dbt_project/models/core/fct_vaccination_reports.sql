{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched(['lao_code', 'village_no', 'species', 'fiscal_year_be'], touched_keys('vaccination', 'lao_code, village_no, species, fiscal_year as fiscal_year_be', ref('stg_vaccination__reports'), ref('stg_vaccination__reports_retracted'))) }}",
    post_hook="{{ advance_watermark() }}",
    indexes=[{'columns': ['lao_code', 'village_no', 'species', 'fiscal_year_be']}],
) }}
-- Rabies campaign figures: the latest report per LAO, village, species and fiscal year
-- (reports are cumulative, a later one supersedes the earlier). Incremental runs recompute
-- only the villages the build's changes touched (reports brought or retracted).
with ranked as (
    -- a full build ranks every report (the keys are not null: no join to their own keys)
    select
        rep.*,
        row_number() over (
            partition by rep.lao_code, rep.village_no, rep.species, rep.fiscal_year
            order by rep.vaccination_date desc, rep.extract_date desc, rep.row_no desc
        ) as recency,
        count(*) over (partition by rep.lao_code, rep.village_no, rep.species, rep.fiscal_year) as reports
    from {{ ref('stg_vaccination__reports') }} as rep
    {% if is_incremental() %}
        inner join (
            {{ touched_keys('vaccination', 'lao_code, village_no, species, fiscal_year', ref('stg_vaccination__reports'), ref('stg_vaccination__reports_retracted')) }}
        ) as touched
            on rep.lao_code = touched.lao_code and rep.village_no = touched.village_no and rep.species = touched.species and rep.fiscal_year = touched.fiscal_year
    {% endif %}
)

select
    lao_code,
    village_no,
    species,
    fiscal_year as fiscal_year_be,
    surveyed,
    owned,
    ownerless,
    vaccinated,
    case when surveyed > 0 then round(vaccinated::numeric / surveyed, 4) end as coverage,
    vaccination_date as last_vaccination_date,
    extract_date as last_extract_date,
    reports,
    loaded_at
from ranked
where recency = 1
