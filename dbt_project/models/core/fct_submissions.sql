{{ config(materialized="view") }}
-- The one definition of "reported", shared by reporting_compliance, rabies_followup and the
-- scorecard: an LAO reported a source for a night when its file for that night was
-- accepted, including a header-only file (the contract's "nothing to report"). A rejected
-- file or no file is not a report.
-- Grain: source x extract_date x lao_code.
select
    s.source,
    s.extract_date,
    {{ fiscal_year_be('s.extract_date') }} as fiscal_year_be,
    s.lao_code,
    s.status,
    s.status = 'reported' as is_reported,
    s.file_name
from {{ source('ops', 'submissions') }} as s
