{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['lao_code', 'village_no', 'species', 'fiscal_year_be'],
) }}
-- Rabies campaign figures: the latest report per LAO, village, species and fiscal year
-- (reports are cumulative, a later one supersedes the earlier). Incremental runs recompute
-- only the villages touched by rows loaded since the last build.
with touched as (
    select distinct lao_code, village_no, species, fiscal_year
    from {{ ref('stg_vaccination__reports') }}
    {% if is_incremental() %}
    where {{ loaded_since_watermark() }}
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
    inner join touched as t using (lao_code, village_no, species, fiscal_year)
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
