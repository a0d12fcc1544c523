-- Which LAOs sent their nightly file, per source, extract date and province, with the
-- shared definition of "reported" (core.fct_submissions: a header-only file is a report),
-- counted night by night in core.agg_submissions_province_night.
-- Grain: source x extract_date x province_code.
select
    a.source,
    a.extract_date,
    a.fiscal_year_be,
    a.province_code,
    a.province_name_th,
    a.province_name_en,
    a.laos_expected,
    a.laos_reported,
    a.laos_rejected,
    a.laos_missing,
    {{ rate('a.laos_reported', 'a.laos_expected') }} as reported_rate,
    {{ is_latest('a.extract_date') }} as is_latest_period
from {{ ref('agg_submissions_province_night') }} as a
