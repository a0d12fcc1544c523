{#- Own revenue per LAO, fiscal year and account (core.agg_revenue_lao_account), kept up to
    date by deltas instead of re-reading every receipt each night.

    A fiscal year's row sums its receipts up to the year's *current cut* (the as-of date,
    or the year's last day once it is over) and the previous year's receipts up to the
    *previous cut* (the same day of that year). The as-of date is the night being built,
    so both cuts move every night, for every LAO, touched or not. A night therefore
    changes the sums in two ways, both set-based and proportional to what changed:

    * receipts changed by this build (fct_tax_receipts writes their old rows with sign -1
      and their new rows with sign +1 to core.tax_receipt_deltas), counted at the old cuts;
    * receipts whose date lies between a year's old and new cut (an index range on
      fct_tax_receipts (fiscal_year_be, receipt_date)): added when the cut moves forward,
      taken away when it moves back (a rebuild of an earlier night).

    A fiscal year not in the set of years the receipts have has no cut ('-infinity'): a
    year that appears gets its spans from the second kind, one that disappears loses
    them. Sums of numeric are exact, so the result equals a recomputation; the model
    recomputes whole (revenue_contributions over every receipt) on a full refresh, on its
    first build, and whenever the deltas do not cover exactly the changes it has not yet
    consumed (a build it missed, a full refresh of the fact alone). -#}

{#- The as-of date of revenue: the night being built, else the latest receipt. -#}
{% macro revenue_as_of() -%}
    {{ as_of_date('select max(rr.receipt_date) from ' ~ ref('fct_tax_receipts') ~ ' as rr') }}
{%- endmacro %}

{#- The last day counted in fiscal year fy's own span, and in the previous year's span it
    is compared with (the same day of that year), at as-of date as_of. -#}
{% macro revenue_current_cut(fy, as_of) -%}
    least({{ as_of }}, {{ fiscal_year_start(fy ~ ' + 1') }} - 1)
{%- endmacro %}

{% macro revenue_previous_cut(fy, as_of) -%}
    ({{ fiscal_year_start(fy ~ ' - 1') }} + ({{ revenue_current_cut(fy, as_of) }} - {{ fiscal_year_start(fy) }}))
{%- endmacro %}

{#- The fiscal years the receipts have, one index probe each (a loose scan of the
    (fiscal_year_be, receipt_date) index instead of reading every receipt). -#}
{% macro revenue_fiscal_years() -%}
    with recursive fy (fiscal_year_be) as (
        select min(r.fiscal_year_be) from {{ ref('fct_tax_receipts') }} as r
        union all
        select (select min(r.fiscal_year_be) from {{ ref('fct_tax_receipts') }} as r where r.fiscal_year_be > fy.fiscal_year_be)
        from fy
        where fy.fiscal_year_be is not null
    )

    select fy.fiscal_year_be from fy where fy.fiscal_year_be is not null
{%- endmacro %}

{#- The two cuts of each year in years_sql (one column, fiscal_year_be) at as_of_sql. -#}
{% macro revenue_cuts(years_sql, as_of_sql) -%}
    select
        y.fiscal_year_be,
        {{ revenue_current_cut('y.fiscal_year_be', 'a.as_of') }} as current_cut,
        {{ revenue_previous_cut('y.fiscal_year_be', 'a.as_of') }} as previous_cut
    from ({{ years_sql }}) as y
    cross join (select ({{ as_of_sql }})::date as as_of) as a
{%- endmacro %}

{#- A receipt `r` as a contribution to a row of `span`: 'current', its own fiscal year's
    span; 'previous', the next year's comparison span. -#}
{% macro revenue_contribution(sign, span) -%}
    {{ sign }} as sign,
        r.lao_code,
        r.fiscal_year_be + {{ 0 if span == 'current' else 1 }} as fiscal_year_be,
        r.account_code,
        r.net_amount,
        r.is_cancelled,
        {{ 'true' if span == 'current' else 'false' }} as is_current
{%- endmacro %}

{#- What each receipt of `receipts` (sign, lao_code, fiscal_year_be, account_code,
    receipt_date, net_amount, is_cancelled) adds to a row, at the cuts of `cuts`
    (fiscal_year_be, current_cut, previous_cut): to its own year's current span, and to
    the next year's previous span. -#}
{% macro revenue_contributions(receipts, cuts) -%}
    {%- for span in ('current', 'previous') %}
    select
        {{ revenue_contribution('r.sign', span) }}
    from {{ receipts }} as r
    inner join {{ cuts }} as c
        on r.fiscal_year_be = c.fiscal_year_be - {{ 0 if span == 'current' else 1 }}
            and r.receipt_date <= c.{{ span }}_cut
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{#- Receipts whose date lies between a year's old and new cut (`moves`: fiscal_year_be,
    old_current, new_current, old_previous, new_previous), signed by the direction the cut
    moved: read through the fact's (fiscal_year_be, receipt_date) index. -#}
{% macro revenue_cut_moves(moves) -%}
    {%- for span in ('current', 'previous') %}
    select
        {{ revenue_contribution('case when m.new_' ~ span ~ ' > m.old_' ~ span ~ ' then 1 else -1 end', span) }}
    from {{ moves }} as m
    inner join {{ ref('fct_tax_receipts') }} as r
        on r.fiscal_year_be = m.fiscal_year_be - {{ 0 if span == 'current' else 1 }}
            and r.receipt_date > least(m.old_{{ span }}, m.new_{{ span }})
            and r.receipt_date <= greatest(m.old_{{ span }}, m.new_{{ span }})
    where m.new_{{ span }} <> m.old_{{ span }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{#- Signed contributions summed into a row's columns. -#}
{% macro revenue_sums(contributions) -%}
    select
        x.lao_code,
        x.fiscal_year_be,
        x.account_code,
        coalesce(sum(x.sign * x.net_amount) filter (where x.is_current), 0)::numeric as amount_ytd,
        coalesce(sum(x.sign) filter (where x.is_current and not x.is_cancelled), 0)::bigint as receipts_ytd,
        coalesce(sum(x.sign) filter (where x.is_current and x.is_cancelled), 0)::bigint as cancelled_ytd,
        coalesce(sum(x.sign * x.net_amount) filter (where not x.is_current), 0)::numeric as amount_prev_ytd,
        coalesce(sum(x.sign) filter (where not x.is_current and not x.is_cancelled), 0)::bigint
            as receipts_prev_ytd,
        coalesce(sum(x.sign) filter (where not x.is_current), 0)::bigint as receipts_prev_all
    from ({{ contributions }}) as x
    group by x.lao_code, x.fiscal_year_be, x.account_code
{%- endmacro %}

{#- Whether this build's deltas cover exactly the changes the model has not consumed: its
    watermark is where the deltas start, they end at this build's change_hi, and it knows
    the as-of date and years its sums were cut at. -#}
{% macro revenue_deltas_apply() -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set sql -%}
        select
            coalesce(
                d.since_change_id = m.change_id
                and d.change_id = (select bs.change_hi from core.build_state as bs)
                and m.as_of is not null
                and m.fiscal_years is not null,
                false
            )
        from core.model_watermarks as m
        cross join core.model_watermarks as d
        where m.model = '{{ this.identifier }}' and d.model = 'tax_receipt_deltas'
    {%- endset -%}
    {%- set result = run_query(sql) -%}
    {{ return(result.rows | length == 1 and result.rows[0][0]) }}
{%- endmacro %}

{#- pre-hook of agg_revenue_lao_account: a table that cannot apply the deltas is emptied and
    recomputed whole. -#}
{% macro revenue_reset_unless_deltas_apply() -%}
    {%- if is_incremental() and not revenue_deltas_apply() -%}
    truncate {{ this }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- post-hook of agg_revenue_lao_account: rows left without receipts go, and the model
    records the as-of date and years its sums are cut at, with its watermark. -#}
{% macro revenue_record_cuts() -%}
    update core.model_watermarks
    set
        as_of = ({{ revenue_as_of() }})::date,
        fiscal_years = array(select y.fiscal_year_be from ({{ revenue_fiscal_years() }}) as y order by 1)
    where model = '{{ this.identifier }}'
{%- endmacro %}

{#- fct_tax_receipts' hooks: the touched receipts' old rows leave the fact and go to
    core.tax_receipt_deltas with sign -1 in one statement (before), their new rows follow
    with sign +1 (after), for agg_revenue_lao_account, with the window of changes they
    cover (core.model_watermarks, model tax_receipt_deltas: since_change_id to
    change_id). A full refresh leaves no usable deltas. -#}
{% macro tax_receipt_delta_rows(sign, keys_sql) -%}
    insert into core.tax_receipt_deltas
        (sign, lao_code, fiscal_year_be, account_code, receipt_date, net_amount, is_cancelled)
    select {{ sign }}, t.lao_code, t.fiscal_year_be, t.account_code, t.receipt_date, t.net_amount, t.is_cancelled
    from {{ this }} as t
    inner join ({{ keys_sql }}) as k
        on t.lao_code = k.lao_code and t.fiscal_year_be = k.fiscal_year_be and t.receipt_no = k.receipt_no
{%- endmacro %}

{% macro tax_receipt_deltas_before(keys_sql) -%}
    truncate core.tax_receipt_deltas;
    {% if is_incremental() -%}
    with gone as (
        delete from {{ this }} as t
        using ({{ keys_sql }}) as k
        where t.lao_code = k.lao_code and t.fiscal_year_be = k.fiscal_year_be and t.receipt_no = k.receipt_no
        returning t.lao_code, t.fiscal_year_be, t.account_code, t.receipt_date, t.net_amount, t.is_cancelled
    )
    insert into core.tax_receipt_deltas
        (sign, lao_code, fiscal_year_be, account_code, receipt_date, net_amount, is_cancelled)
    select -1, g.lao_code, g.fiscal_year_be, g.account_code, g.receipt_date, g.net_amount, g.is_cancelled
    from gone as g;
    {%- endif %}
    insert into core.model_watermarks (model, change_id, since_change_id, updated_at)
    values ('tax_receipt_deltas', 0, null, now())
    on conflict (model) do update set change_id = 0, since_change_id = null, updated_at = now()
{%- endmacro %}

{% macro tax_receipt_deltas_after(keys_sql) -%}
    {%- if is_incremental() -%}
    {{ tax_receipt_delta_rows(1, keys_sql) }};
    update core.model_watermarks
    set change_id = {{ change_hi() }}, since_change_id = {{ watermark() }}, updated_at = now()
    where model = 'tax_receipt_deltas'
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- The receipts (lao_code, fiscal_year_be, receipt_no) this build's tax changes touched,
    found once per build (tax_touched_receipts). -#}
{% macro tax_receipts_touched() -%}
    select tt.lao_code, tt.fiscal_year_be, tt.receipt_no from {{ ref('tax_touched_receipts') }} as tt
{%- endmacro %}
