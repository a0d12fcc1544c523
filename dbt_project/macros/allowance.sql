{#- Monthly elderly allowance by age: 600/700/800/1,000 baht (domain.md).
    A new tier applies from the month after the birthday, so the age that counts is
    the age on the last day of the month before the payment period. -#}
{% macro allowance_tier_amount(age_expr) -%}
    case
        when {{ age_expr }} >= 90 then 1000
        when {{ age_expr }} >= 80 then 800
        when {{ age_expr }} >= 70 then 700
        when {{ age_expr }} >= 60 then 600
    end
{%- endmacro %}

{% macro allowance_tier(age_expr) -%}
    case
        when {{ age_expr }} >= 90 then '90+'
        when {{ age_expr }} >= 80 then '80-89'
        when {{ age_expr }} >= 70 then '70-79'
        when {{ age_expr }} >= 60 then '60-69'
        else 'under 60'
    end
{%- endmacro %}

{#- The allowance payment deadline for a period (first day of the month): the 10th, or the
    Friday before when the 10th falls on a weekend (public holidays are not modelled). -#}
{% macro allowance_deadline(period_expr) -%}
    (({{ period_expr }})::date + ({{ var('allowance_payment_deadline_day') }} - 1)
        - case extract(isodow from ({{ period_expr }})::date + ({{ var('allowance_payment_deadline_day') }} - 1))
            when 6 then 1 when 7 then 2 else 0 end)
{%- endmacro %}

{#- The (LAO, payment period) groups touched by this build's changes. -#}
{% macro allowance_groups_touched() -%}
    select tg.lao_code, tg.payment_period from {{ ref('allowance_touched_groups') }} as tg
{%- endmacro %}

{#- After a model's `from <fact> as <alias>`: on an incremental run, only the rows of the
    (LAO, period) groups this build touched. The touched periods are also written out as
    constants: the planner then reads those groups through the fact's (payment_period,
    lao_code) index instead of scanning every period of history (at three months of
    history a night's groups cost a third of the reads; the scan grows with history, the
    lookups do not). -#}
{% macro only_touched_groups(alias) -%}
    {%- if is_incremental() %}
    inner join ({{ allowance_groups_touched() }}) as t
        on {{ alias }}.lao_code = t.lao_code and {{ alias }}.payment_period = t.payment_period
        and {{ alias }}.payment_period in ({{ allowance_periods_touched() }})
    {%- endif %}
{%- endmacro %}

{#- The payment periods of the groups this build touched, as a list of date constants
    (`null` when none: no row matches). -#}
{% macro allowance_periods_touched() -%}
    {%- set periods = [] -%}
    {%- if execute -%}
        {%- set found = run_query(
            'select distinct payment_period::text from ' ~ ref('allowance_touched_groups')
            ~ ' where payment_period is not null order by 1') -%}
        {%- set periods = found.columns[0].values() -%}
    {%- endif -%}
    {%- for p in periods %}date '{{ p }}'{{ ', ' if not loop.last }}{% else %}null{% endfor -%}
{%- endmacro %}

{#- The (person, payment period) pairs touched by this build's changes. -#}
{% macro allowance_people_touched() -%}
    select tp.person_key, tp.payment_period from {{ ref('allowance_touched_people') }} as tp
{%- endmacro %}

{#- In a lateral subquery: the lines ``lines_sql`` selects (from the fact as ``f``; it ends
    in its ``where`` clause, which this extends with ``and``) of the person and payment
    period of the outer row ``alias``, looked up through the fact's (payment_period,
    hashtext(person_key)) index (fct_allowance_payments; pdpa.py's erasure probes it the
    same way); the offset keeps the planner from flattening it into a join (it stays a
    lookup per outer row). -#}
{% macro person_period_lookup(lines_sql, alias) -%}
    {{ lines_sql }}
        and f.payment_period = {{ alias }}.payment_period
        and hashtext(f.person_key) = hashtext({{ alias }}.person_key)
        and f.person_key = {{ alias }}.person_key
    offset 0
{%- endmacro %}

{#- How fct_allowance_multi_lao finds each touched payment period's lines, decided per
    period from the touched (person, period) pairs (counted in allowance_touched_people,
    built earlier in the same build): a period with up to var('multi_lao_lookup_max_people')
    touched people looks each one up through the fact's person index; a period with more
    (a national night's current month, a backfill) is one hash join with that period's
    lines only. A night's late lines for last month are then a few thousand lookups, not a
    scan of last month's ten million lines. Returns {'lookup': [...], 'hash': [...]} of
    ISO dates; both empty on a full build or when nothing was touched. -#}
{% macro allowance_multi_lao_periods() -%}
    {%- set ways = {'lookup': [], 'hash': []} -%}
    {%- if execute and is_incremental() -%}
        {%- set counted = run_query(
            'select payment_period::text, count(*) from ' ~ ref('allowance_touched_people')
            ~ ' where payment_period is not null group by 1 order by 1') -%}
        {%- for row in counted.rows -%}
            {%- do ways[
                'lookup' if (row[1] | int) <= (var('multi_lao_lookup_max_people') | int) else 'hash'
            ].append(row[0]) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(ways) }}
{%- endmacro %}

{#- Whether every touched period of fct_allowance_multi_lao is looked up (its pre-hook then
    turns bitmap scans off: see lookups_by_index); a hash-joined period reads its lines
    through a bitmap of the period index. -#}
{% macro allowance_multi_lao_lookups_only() -%}
    {%- set ways = allowance_multi_lao_periods() -%}
    {{ return(not ways['hash']) }}
{%- endmacro %}

{#- A list of ISO dates as SQL date literals: ('2026-10-01'::date, ...). -#}
{% macro date_list(dates) -%}
    ({% for d in dates %}'{{ d }}'::date{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}

{#- Small cells (PDPA): a cell describing fewer than small_cell_k people or receipts is
    shown as NULL in the open marts, with a flag; the restricted marts keep the values. -#}
{% macro is_small_cell(count_expr) -%}
    ({{ count_expr }} > 0 and {{ count_expr }} < {{ var('small_cell_k') }})
{%- endmacro %}

{% macro unless_small(value_expr, flag='is_suppressed') -%}
    case when {{ flag }} then null else {{ value_expr }} end
{%- endmacro %}

{#- The (key, payment period) pairs the allowance changes not yet consumed by ``consumers``
    touched, for a build-internal touched table (see touched_table in incremental.sql):
    the key sorted byte-wise while the pairs are made distinct, then given back the
    database's collation. -#}
{% macro allowance_touched(key, consumers) -%}
    select
        {{ collate_default('k.' ~ key) }} as {{ key }},
        k.payment_period
    from (
        {{ touched_table(
            'allowance',
            bytewise(key) ~ ' as ' ~ key ~ ', payment_period',
            ref('stg_allowance__payments'),
            ref('stg_allowance__payments_retracted'),
            consumers=consumers,
            empty='select null::text as ' ~ key ~ ', null::date as payment_period',
        ) }}
    ) as k
{%- endmacro %}

{#- The models that recompute by (LAO, period) group from core.allowance_touched_groups. -#}
{% macro allowance_group_consumers() -%}
    {{ return(['agg_allowance_lao_period', 'fct_allowance_line_findings', 'agg_allowance_findings_lao_period']) }}
{%- endmacro %}

{#- post-hook of allowance_touched_groups, before its watermark moves: this build's groups go
    to core.allowance_touched_groups_log with the window of changes they come from (a row
    without a group stands for a window that touched none), for the kept copies of
    allowance_findings, which are a build or more behind (allowance_groups_since). Windows
    every copy has consumed go. A full refresh empties it: each copy is then rebuilt whole. -#}
{% macro log_touched_groups() -%}
    {%- if flags is defined and flags.FULL_REFRESH -%}
    truncate core.allowance_touched_groups_log
    {%- else -%}
    insert into core.allowance_touched_groups_log (change_lo, change_hi, lao_code, payment_period)
    select w.lo, w.hi, g.lao_code, g.payment_period
    from (
        select {{ lowest_watermark(allowance_group_consumers()) }} as lo, {{ change_hi() }} as hi
    ) as w
    left join {{ this }} as g on true;
    delete from core.allowance_touched_groups_log
    where change_hi <= (
        select coalesce(min(m.change_id), 0) from core.model_watermarks as m
        where m.model like 'allowance\_findings#%'
    )
    {%- endif -%}
{%- endmacro %}

{#- The (LAO, payment period) groups touched by allowance changes after ``since`` (a change
    id expression) up to this build's, for a kept mart whose copy may be builds behind:
    the groups the builds since then logged (log_touched_groups) when their windows cover
    (since, change_hi] without a gap (a window starting at or before the point reached
    covers the rest of it: it holds at least those groups); otherwise found again from
    every line those changes brought or took away (a copy older than the log, or a build
    that failed before logging). -#}
{% macro allowance_groups_since(since) -%}
    with recursive reach (at) as (
        select {{ since }}
        union
        select l.change_hi
        from core.allowance_touched_groups_log as l
        inner join reach as r on l.change_lo <= r.at and r.at < l.change_hi
        where l.change_hi <= {{ change_hi() }}
    ),

    logged as (
        select exists (select from reach as r where r.at >= {{ change_hi() }}) as covered
    )

    select l.lao_code, l.payment_period
    from core.allowance_touched_groups_log as l
    where
        (select lg.covered from logged as lg)
        and l.change_hi > {{ since }}
        and l.change_hi <= {{ change_hi() }}
        and l.lao_code is not null
    union
    select k.lao_code, k.payment_period
    from ({{ touched_keys(
        'allowance',
        'lao_code, payment_period',
        ref('stg_allowance__payments'),
        ref('stg_allowance__payments_retracted'),
        since=since,
    ) }}) as k
    where not (select lg.covered from logged as lg)
{%- endmacro %}

{#- What allowance_findings copies from dim_lao: when it changes, a kept copy is rebuilt. -#}
{% macro allowance_findings_digest() -%}
    {{ dim_lao_digest(['lao_code', 'lao_name_th', 'province_code', 'province_name_en']) }}
{%- endmacro %}

{#- A digest of some of dim_lao's columns, every LAO's, in code order: what a model kept
    across builds read of the registry. -#}
{% macro dim_lao_digest(columns) -%}
    (select md5(coalesce(string_agg(
        format('{{ (['%s'] * columns | length) | join('|') }}', {% for c in columns %}d.{{ c }}{% if not loop.last %}, {% endif %}{% endfor %}),
        ',' order by d.lao_code), ''))
    from {{ ref('dim_lao') }} as d)
{%- endmacro %}
