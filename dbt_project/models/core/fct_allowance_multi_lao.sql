{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=[
        "{{ require_built_in_this_build('allowance_touched_people') }}",
        "{{ delete_touched(['person_key', 'payment_period'], allowance_people_touched()) }}",
        "{{ lookups_by_index(allowance_multi_lao_lookups_only()) }}",
    ],
    post_hook="{{ advance_watermark() }}",
) }}
-- depends_on: {{ ref('allowance_touched_people') }}
-- A person may be paid by one LAO only: people paid (regular payments) by two or more
-- LAOs in one period, one row per LAO involved. Recomputed, across all their LAOs, for
-- the people the build's changes touched (rows brought or retracted): looked up through the
-- fact's person index, or hash-joined with their period's lines, per period
-- (allowance_multi_lao_periods).
-- Grain: person_key x payment_period x lao_code.
{%- set paid_lines -%}
    select
        {{ bytewise('f.person_key') }} as person_key,
        f.payment_period,
        {{ bytewise('f.lao_code') }} as lao_code,
        f.amount,
        f.loaded_at
    from {{ ref('fct_allowance_payments') }} as f
    where f.is_paid and f.status = 'paid'
{%- endset %}

{%- set ways = allowance_multi_lao_periods() %}

with lines as (
    -- codes and hashes in byte order: the sort below covers every regular payment line
    -- of the touched people (all of them on a full refresh)
    {% if not is_incremental() %}
        {{ paid_lines }}
    {% endif %}
    {% if is_incremental() and (ways['lookup'] or not ways['hash']) %}
        -- the touched people of a period with few of them (a re-sent file, a night's late
        -- lines for last month), each looked up with the period through the person index
        -- (the offset keeps it a lookup): cost follows the touched people, not the history
        -- noqa: disable=LT02
        select p.*
        from ({{ allowance_people_touched() }}) as t
        cross join lateral (
            {{ person_period_lookup(paid_lines, 't') }}
        ) as p
        {% if ways['hash'] %}
            where t.payment_period in {{ date_list(ways['lookup']) }}
        {% endif %}
        -- noqa: enable=LT02
    {% endif %}
    {% if is_incremental() and ways['lookup'] and ways['hash'] %}
        union all
    {% endif %}
    {% if is_incremental() and ways['hash'] %}
        -- a period with more touched people than lookups pay for (a national night's
        -- month, a backfill): one hash join with that period's lines only, the periods
        -- written out so the planner reads them through the period index
        -- noqa: disable=LT02
        {{ paid_lines }}
            and f.payment_period in {{ date_list(ways['hash']) }}
            and exists (
                select from ({{ allowance_people_touched() }}) as t
                where t.person_key = f.person_key and t.payment_period = f.payment_period
            )
        -- noqa: enable=LT02
    {% endif %}
),

multi_lao_people as (
    -- the (person, period) pairs paid by two or more LAOs: one hash aggregate over the
    -- lines, not an aggregate per LAO then a sort of all of them for a window (a national
    -- night's million people: 4.2-5.9 s -> 2.9-3.2 s in psql, the same rows)
    select
        person_key,
        payment_period
    from lines
    group by person_key, payment_period
    having min(lao_code) <> max(lao_code)
)

-- their lines again, through the fact's person index (a few people a night, a few
-- hundred a year): reading `lines` twice would keep all of them in memory or on disk
-- noqa: disable=LT02
select
    {{ collate_default('p.person_key') }} as person_key,
    p.payment_period,
    {{ collate_default('p.lao_code') }} as lao_code,
    sum(p.amount) as amount,
    max(p.loaded_at) as loaded_at
from multi_lao_people as m
cross join lateral (
    {{ person_period_lookup(paid_lines, 'm') }}
) as p
group by p.person_key, p.payment_period, p.lao_code
-- noqa: enable=LT02
