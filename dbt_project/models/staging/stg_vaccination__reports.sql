-- Rabies campaign report lines as received (no personal data in this source).
select
    load_id,
    lao_code,
    extract_date,
    source_file,
    row_no,
    village_no,
    species,
    surveyed,
    owned,
    ownerless,
    vaccinated,
    vaccination_date,
    fiscal_year,
    loaded_at
from {{ source('raw', 'vaccination_reports') }}
