-- Keys of vaccination report rows a re-send replaced.
select
    extract_date,
    lao_code,
    village_no,
    species,
    fiscal_year,
    retracted_change_id
from {{ source('raw', 'vaccination_reports_retracted') }}
