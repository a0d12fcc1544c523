-- What each LAO must follow up after the latest night, the content of the provincial
-- offices' follow-up pack (dla followup-pack): per source reported / rejected / missing
-- (the shared definition of "reported", core.fct_submissions), rows quarantined that night
-- with the most frequent reasons, rabies coverage of the current fiscal year against the
-- target, and allowance findings counts (counts only: no person keys). Every registered
-- LAO has a row, so that totals are complete; needs_follow_up says which ones to call.
-- Grain: lao_code (for the latest night).
with night as (
    -- the latest night with submissions, read from the index of the nights table (the
    -- submissions view holds every source, night and LAO of history)
    select
        max(extract_date) as extract_date,
        {{ fiscal_year_be('max(extract_date)') }} as fiscal_year_be
    from {{ ref('reporting_lao_nights') }}
),

submissions as (
    select
        s.lao_code,
        max(s.status) filter (where s.source = 'allowance') as allowance_status,
        max(s.status) filter (where s.source = 'tax') as tax_status,
        max(s.status) filter (where s.source = 'vaccination') as vaccination_status
    from {{ ref('fct_submissions') }} as s
    inner join night as n on s.extract_date = n.extract_date
    group by s.lao_code
),

quarantine_reasons as (
    select
        q.lao_code,
        coalesce(q.reason_code, 'unknown') as reason_code,
        count(*)::bigint as rows_quarantined
    from {{ source('ops', 'quarantine') }} as q
    inner join night as n on q.extract_date = n.extract_date
    where q.lao_code is not null
    group by q.lao_code, coalesce(q.reason_code, 'unknown')
),

ranked_reasons as (
    select
        lao_code,
        reason_code,
        rows_quarantined,
        row_number() over (
            partition by lao_code order by rows_quarantined desc, reason_code asc
        ) as reason_rank
    from quarantine_reasons
),

quarantine as (
    select
        lao_code,
        sum(rows_quarantined)::bigint as rows_quarantined,
        string_agg(
            reason_code || ' (' || rows_quarantined || ')', ', '
            order by reason_rank
        ) filter (where reason_rank <= 3) as top_quarantine_reasons
    from ranked_reasons
    group by lao_code
),

rabies as (
    select
        r.lao_code,
        r.coverage_rate
    from {{ ref('rabies_coverage_by_lao') }} as r
    inner join night as n on r.fiscal_year_be = n.fiscal_year_be
),

findings as (
    -- restricted.allowance_findings' rows, counted per LAO and period by the build
    select
        f.lao_code,
        sum(f.findings)::bigint as allowance_findings
    from {{ ref('agg_allowance_findings_lao_period') }} as f
    inner join night as n on f.fiscal_year_be = n.fiscal_year_be
    group by f.lao_code
),

per_lao as (
    select
        l.province_code,
        l.province_name_th,
        l.province_name_en,
        l.district_code,
        l.district_name_th,
        l.lao_code,
        l.lao_name_th,
        l.lao_type,
        n.extract_date,
        n.fiscal_year_be,
        coalesce(s.allowance_status, 'missing') as allowance_status,
        coalesce(s.tax_status, 'missing') as tax_status,
        coalesce(s.vaccination_status, 'missing') as vaccination_status,
        coalesce(q.rows_quarantined, 0)::bigint as rows_quarantined,
        q.top_quarantine_reasons,
        r.coverage_rate::numeric(6, 4) as rabies_coverage_rate,
        -- no coverage this fiscal year (nothing surveyed or reported) is not "below": the
        -- LAOs that have not reported are marts.rabies_followup's list
        coalesce(r.coverage_rate < {{ var('rabies_coverage_target') }}, false) as below_rabies_target,
        coalesce(f.allowance_findings, 0)::bigint as allowance_findings
    from {{ ref('dim_lao') }} as l
    cross join night as n
    left join submissions as s on l.lao_code = s.lao_code
    left join quarantine as q on l.lao_code = q.lao_code
    left join rabies as r on l.lao_code = r.lao_code
    left join findings as f on l.lao_code = f.lao_code
),

counted as (
    select
        *,
        (
            (allowance_status = 'missing')::int
            + (tax_status = 'missing')::int
            + (vaccination_status = 'missing')::int
        )::bigint as sources_missing,
        (
            (allowance_status = 'rejected')::int
            + (tax_status = 'rejected')::int
            + (vaccination_status = 'rejected')::int
        )::bigint as files_rejected
    from per_lao
)

select
    province_code,
    province_name_th,
    province_name_en,
    district_code,
    district_name_th,
    lao_code,
    lao_name_th,
    lao_type,
    extract_date,
    fiscal_year_be,
    allowance_status,
    tax_status,
    vaccination_status,
    sources_missing,
    files_rejected,
    rows_quarantined,
    top_quarantine_reasons,
    rabies_coverage_rate,
    below_rabies_target,
    allowance_findings,
    (
        sources_missing > 0
        or files_rejected > 0
        or rows_quarantined > 0
        or below_rabies_target
        or allowance_findings > 0
    ) as needs_follow_up,
    {{ is_latest('extract_date') }} as is_latest_period
from counted
