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
    (LAO, period) groups this build touched. -#}
{% macro only_touched_groups(alias) -%}
    {%- if is_incremental() %}
    inner join ({{ allowance_groups_touched() }}) as t
        on {{ alias }}.lao_code = t.lao_code and {{ alias }}.payment_period = t.payment_period
    {%- endif %}
{%- endmacro %}

{#- The (person, payment period) pairs touched by this build's changes. -#}
{% macro allowance_people_touched() -%}
    select tp.person_key, tp.payment_period from {{ ref('allowance_touched_people') }} as tp
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

{#- The (LAO, payment period) groups touched by allowance changes after ``since`` (a change
    id expression) up to this build's: for a kept mart, whose copy may be behind the
    build's touched tables. -#}
{% macro allowance_groups_since(since) -%}
    {{ touched_keys(
        'allowance',
        'lao_code, payment_period',
        ref('stg_allowance__payments'),
        ref('stg_allowance__payments_retracted'),
        since=since,
    ) }}
{%- endmacro %}

{#- What allowance_findings copies from dim_lao: when it changes, a kept copy is rebuilt. -#}
{% macro allowance_findings_digest() -%}
    (select md5(coalesce(string_agg(
        format('%s|%s|%s|%s', d.lao_code, d.lao_name_th, d.province_code, d.province_name_en),
        ',' order by d.lao_code), ''))
    from {{ ref('dim_lao') }} as d)
{%- endmacro %}
