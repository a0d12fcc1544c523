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
with touched as (
    {% if is_incremental() %}
        {{ touched_keys('vaccination', 'lao_code, village_no, species, fiscal_year', ref('stg_vaccination__reports'), ref('stg_vaccination__reports_retracted')) }}
    {% else %}
        select distinct
            lao_code,
            village_no,
            species,
            fiscal_year
        from {{ ref('stg_vaccination__reports') }}
    {% endif %}
),

ranked as (
    select
        r.*,
        row_number() over (
            partition by r.lao_code, r.village_no, r.species, r.fiscal_year
            order by r.vaccination_date desc, r.extract_date desc, r.row_no desc
        ) as recency,
        count(*) over (partition by r.lao_code, r.village_no, r.species, r.fiscal_year) as reports
    from {{ ref('stg_vaccination__reports') }} as r
    inner join touched on r.lao_code = touched.lao_code and r.village_no = touched.village_no and r.species = touched.species and r.fiscal_year = touched.fiscal_year
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
