{#- Incremental models learn what changed from the ledger, not from the rows that arrived.

    Every time an LAO-night's data is replaced (a new file, a re-send, a retraction) the
    loader writes one row to ops.lao_night_changes with a change id; the rows it replaced
    move to raw.<table>_retracted with that id. A model keeps the last change id it has
    consumed in core.model_watermarks (advanced in its post-hook, in the same transaction)
    and, on each build, recomputes the keys touched by changes in (watermark, change_hi]:
    the keys of the LAO-night's current rows and of the rows it retracted. So a re-send
    that drops a period, a receipt or a village, or a header-only file, reaches the marts
    without a full refresh. change_hi is read once per build by `dla` (transform.py) into
    core.build_state, so every model of a build sees the same window. It is a table, not a
    dbt var: vars that change every build would make dbt re-parse the project each time. -#}

{% macro change_hi() -%}
    (select bs.change_hi from core.build_state as bs)
{%- endmacro %}

{% macro watermark() -%}
    (select coalesce(max(w.change_id), 0) from core.model_watermarks as w where w.model = '{{ this.identifier }}')
{%- endmacro %}

{#- The lowest watermark of several models (0 for one never built): the start of a window
    that holds every change any of them has still to consume. -#}
{% macro lowest_watermark(models) -%}
    (select coalesce(min(coalesce(w.change_id, 0)), 0)
    from (values {% for m in models %}('{{ m }}'){% if not loop.last %}, {% endif %}{% endfor %}) as m (model)
    left join core.model_watermarks as w on m.model = w.model)
{%- endmacro %}

{#- The LAO-nights of a source changed in this build's window. -#}
{% macro changed_lao_nights(source_name, since=none) -%}
    select distinct ch.extract_date, ch.lao_code
    from {{ source('ops', 'lao_night_changes') }} as ch
    where ch.source = '{{ source_name }}'
        and ch.change_id > {{ since or watermark() }}
        and ch.change_id <= {{ change_hi() }}
{%- endmacro %}

{#- Keys (a column list) of the rows a window's changes brought or took away: the current
    rows of the changed LAO-nights and the rows those changes retracted. -#}
{% macro touched_keys(source_name, columns, current, retracted, since=none) -%}
    select {{ columns }}
    from (
        select c.*
        from {{ current }} as c
        inner join ({{ changed_lao_nights(source_name, since) }}) as changed
            on changed.extract_date = c.extract_date and changed.lao_code = c.lao_code
    ) as current_rows
    union
    select {{ columns }}
    from {{ retracted }} as r
    where r.retracted_change_id > {{ since or watermark() }}
        and r.retracted_change_id <= {{ change_hi() }}
{%- endmacro %}

{#- A table of touched keys, built once per build for the models that recompute by those
    keys (instead of each model finding them again, twice: in its pre-hook and its select).
    Its window starts at the lowest watermark of those models, so one that missed a build
    still gets its changes; recomputing a key another model already caught up on is
    harmless. It is analysed, so the planner sees a few thousand groups, not a guess. On a
    full refresh the models rebuild everything and the table stays empty. -#}
{% macro touched_table(source_name, columns, current, retracted, consumers, empty) -%}
    {%- if flags is defined and flags.FULL_REFRESH -%}
    {{ empty }} where false
    {%- else -%}
    {{ touched_keys(source_name, columns, current, retracted, lowest_watermark(consumers)) }}
    {%- endif -%}
{%- endmacro %}

{#- pre-hook of a model reading a touched table (or, for a kept mart, the facts it copies):
    refuse to run against one left by an earlier build (a partial `dbt run -s model` would
    otherwise consume changes it never saw and advance its watermark past them). -#}
{% macro require_built_in_this_build(name) -%}
    {%- if is_incremental() -%}
    do $$
    begin
        if (select max(w.change_id) from core.model_watermarks as w where w.model = '{{ name }}')
            is distinct from {{ change_hi() }} then
            raise exception '{{ name }} was not built in this build: build it with this model (dbt build --select +{{ this.identifier }})';
        end if;
    end
    $$
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- pre-hook: remove the touched keys from the model (the model's select re-inserts what
    still exists; a key whose rows were all retracted stays removed). -#}
{% macro delete_touched(key_columns, touched_sql) -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as t
    using ({{ touched_sql }}) as k
    where {% for col in key_columns %}t.{{ col }} = k.{{ col }}{% if not loop.last %} and {% endif %}{% endfor %}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- pre-hook: remove the rows the model recomputes on every build (a small part). -#}
{% macro delete_where(condition) -%}
    {%- if is_incremental() -%}
    delete from {{ this }} where {{ condition }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- post-hook: the model has consumed every change up to change_hi (and read what
    ``digest_sql`` digests, when given). -#}
{% macro advance_watermark(digest_sql=none) -%}
    insert into core.model_watermarks (model, change_id, updated_at{{ ', digest' if digest_sql }})
    values ('{{ this.identifier }}', {{ change_hi() }}, now(){{ ', ' ~ digest_sql if digest_sql }})
    on conflict (model) do update set change_id = excluded.change_id, updated_at = now()
    {%- if digest_sql %}, digest = excluded.digest{% endif %}
{%- endmacro %}

{#- on-run-start: the watermark table (the transformer owns schema core). -#}
{% macro create_watermarks() -%}
    create table if not exists core.model_watermarks (
        model text primary key,
        change_id bigint not null,
        updated_at timestamptz not null default now()
    );
    alter table core.model_watermarks add column if not exists digest text;
    -- the window of changes core.tax_receipt_deltas covers (its row: since_change_id to
    -- change_id), and the as-of date and fiscal years agg_revenue_lao_account is cut at
    alter table core.model_watermarks
        add column if not exists since_change_id bigint,
        add column if not exists as_of date,
        add column if not exists fiscal_years integer[];
    -- the old (-1) and new (+1) rows of the receipts the last build of fct_tax_receipts
    -- touched (macros/revenue.sql); no personal data
    create table if not exists core.tax_receipt_deltas (
        sign smallint not null,
        lao_code text not null,
        fiscal_year_be integer not null,
        account_code text,
        receipt_date date,
        net_amount numeric,
        is_cancelled boolean
    );
    -- the (LAO, period) groups of each build's window of allowance changes, for the kept
    -- copies of allowance_findings (macros/allowance.sql, log_touched_groups); no
    -- personal data
    create table if not exists core.allowance_touched_groups_log (
        change_lo bigint not null,
        change_hi bigint not null,
        lao_code text,
        payment_period date
    );
    {{ create_reporting_night_state() }}
{%- endmacro %}

{#- Text sorted or grouped in byte order (COLLATE "C"): the keys here are codes and
    hashes, whose order means nothing, and PostgreSQL compares C-collated text with memcmp
    and abbreviated keys instead of the locale's strcoll: a sort of millions of keys runs
    several times faster. Equality is the same. collate_default turns a column back, so
    the tables built keep the database's collation and join with everything else. -#}
{% macro bytewise(expr) -%}
    {{ expr }} collate "C"
{%- endmacro %}

{% macro collate_default(expr) -%}
    {{ expr }} collate "default"
{%- endmacro %}

{#- pre-hook of every core model (dbt_project.yml): an incremental table keeps the indexes
    its config lists, no more and no fewer. dbt creates them only when it creates the
    table, so without this a warehouse built before an index was added, reordered or
    retired would keep the old set until a full refresh, and pay on every night for an
    index nothing reads (each one costs seconds on a national night's million lines). The
    config owns the indexes: one added by hand is dropped at the next build (constraints'
    indexes are left alone). An index is compared by method, uniqueness and its columns
    in order, spaces and case ignored (write an expression as PostgreSQL prints it, or it
    is rebuilt at every build). Creating a missing index on a large table takes as long
    as its build; the log says which. -#}
{% macro sync_indexes() -%}
    {%- set statements = [] -%}
    {%- if execute and is_incremental() -%}
        {%- set wanted = {} -%}
        {%- for ix in config.get('indexes') or [] -%}
            {%- set parsed = adapter.parse_index(ix) -%}
            {%- do wanted.update({index_signature(parsed.columns, parsed.unique, parsed.type or 'btree') | trim: ix}) -%}
        {%- endfor -%}
        {%- set have = [] -%}
        {%- for row in run_query(existing_indexes_sql(this)) -%}
            {%- if row['signature'] in wanted and row['signature'] not in have -%}
                {%- do have.append(row['signature']) -%}
            {%- else -%}
                {%- do log('dropping index ' ~ row['name'] ~ ' ' ~ row['signature'] ~ ' of ' ~ this ~ ': not in its config', info=true) -%}
                {%- do statements.append(get_drop_index_sql(this, row['name'])) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- for signature, ix in wanted.items() if signature not in have -%}
            {%- do log('creating index ' ~ signature ~ ' on ' ~ this ~ ': in its config, not in the table', info=true) -%}
            {%- do statements.append(get_create_index_sql(this, ix)) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ statements | join(';\n') if statements else 'select 1' }}
{%- endmacro %}

{#- An index as `method(col,col)[ unique]`, lower case, no spaces (existing_indexes_sql
    writes the table's indexes the same way). -#}
{% macro index_signature(columns, unique, method) -%}
    {{ method | lower }}({{ columns | map('lower') | map('replace', ' ', '') | join(',') }}){{ ' unique' if unique else '' }}
{%- endmacro %}

{#- The indexes of a table that no constraint owns, by name, with their signature: each
    key column or expression as PostgreSQL prints it, in the index's order (dbt's own
    get_show_indexes_sql lists the columns in table order and leaves expressions out, so
    it cannot tell a reordered index from the configured one). -#}
{% macro existing_indexes_sql(relation) -%}
    select
        c.relname as name,
        am.amname
        || '('
        || (
            select string_agg(lower(replace(pg_get_indexdef(i.indexrelid, k, true), ' ', '')), ',' order by k)
            from generate_series(1, i.indnkeyatts) as k
        )
        || ')'
        || case when i.indisunique then ' unique' else '' end as signature
    from pg_index as i
    inner join pg_class as c on i.indexrelid = c.oid
    inner join pg_am as am on c.relam = am.oid
    where i.indrelid = '{{ relation }}'::regclass
        and not exists (select from pg_constraint as k where k.conindid = i.indexrelid)
    order by c.relname
{%- endmacro %}

{#- pre-hook (after the delete): when ``lookups`` is true, for the rest of the model's
    transaction a lookup per key walks the index rather than building a bitmap of one or two
    rows. Without statistics on an index expression (the fact is not re-analysed each night)
    the planner expects hundreds of rows per key and picks the bitmap: 8 s instead of 5 s for
    a national night's million people. A hash join (lookups false) keeps the planner's
    choice. -#}
{% macro lookups_by_index(lookups) -%}
    {%- if lookups -%}
    set local enable_bitmapscan = off
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
