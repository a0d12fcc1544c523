{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=[
        "{{ require_built_in_this_build('allowance_touched_groups') }}",
        "{{ require_built_in_this_build('fct_allowance_line_findings') }}",
        "{{ delete_touched(['lao_code', 'payment_period'], allowance_groups_touched()) }}",
        "{{ delete_where(\"finding_group = 'paid_by_two_laos'\") }}",
    ],
    post_hook="{{ advance_watermark() }}",
    indexes=[{'columns': ['lao_code', 'payment_period', 'finding_group'], 'unique': True}],
) }}
-- depends_on: {{ ref('allowance_touched_groups') }}
-- Allowance findings counted per LAO and payment period: the line findings (tier
-- mismatch, under 60, failed, arrears, late) kept by touched group, and the people also
-- paid by another LAO counted from core.fct_allowance_multi_lao (a few rows, recomputed by
-- every build), so lao_followup and province_summary count restricted.allowance_findings'
-- rows without scanning every finding of history (millions a year). A line finding an
-- erasure deletes outside dbt is taken off its count there (pdpa.COUNTED_BY).
-- Grain: lao_code x payment_period x finding_group (line, paid_by_two_laos).
with lines as (
    -- the touched groups' findings, through the fact's (payment_period, lao_code) index
    select
        f.lao_code,
        f.payment_period
    from {{ ref('fct_allowance_line_findings') }} as f
    {{ only_touched_groups('f') }}
)

select
    lao_code,
    payment_period,
    {{ fiscal_year_be('payment_period') }} as fiscal_year_be,
    'line' as finding_group,
    count(*)::bigint as findings
from lines
group by lao_code, payment_period
union all
select
    m.lao_code,
    m.payment_period,
    {{ fiscal_year_be('m.payment_period') }} as fiscal_year_be,
    'paid_by_two_laos' as finding_group,
    count(*)::bigint as findings
from {{ ref('fct_allowance_multi_lao') }} as m
group by m.lao_code, m.payment_period
