{#- The reporting rate of the scorecard without re-reading every submission of history.

    ops.submissions has one row per source, night and registered LAO (~8.6 M a year), and
    a night's rows are rewritten whenever that source's night is closed again (a new file,
    a re-send, a rejected or a header-only one: none of those needs a change id, so the
    change-id window of the other incremental models does not see them). What does see
    them: each close stamps ops.nights.checked_at. So core.reporting_night_state keeps, per
    night, the state (every source's close stamp and file counts) the last build of
    core.reporting_lao_nights consumed; a night whose state differs now (closed again,
    closed for a new source, forgotten) is recomputed, and marked pending for
    core.agg_reporting_lao_fy, which re-aggregates the fiscal years of its pending nights
    and clears the marks in the same transaction. A night forgotten stays as a tombstone
    (state null) until that aggregate has consumed it. -#}

{#- on-run-start (create_watermarks): the state table. No personal data. -#}
{% macro create_reporting_night_state() -%}
    create table if not exists core.reporting_night_state (
        extract_date date primary key,
        fiscal_year_be integer not null,
        state text,
        pending boolean not null
    )
{%- endmacro %}

{#- pre-hook of reporting_lao_nights: the ledger's state of every night now
    (pg_temp.reporting_state) and the nights to recompute (pg_temp.reporting_changed_nights:
    those whose state differs from the one consumed; every night, known now or before, on
    a build from scratch). -#}
{% macro reporting_nights_plan() -%}
    create temp table reporting_state on commit drop as
    select
        n.extract_date,
        string_agg(
            -- the stamp as epoch seconds: its text would follow the session's time zone
            n.source || ' ' || extract(epoch from n.checked_at) || ' ' || n.files || ' ' || n.files_rejected
            || ' ' || n.laos_reporting,
            ', ' order by n.source
        ) as state
    from {{ source('ops', 'nights') }} as n
    group by n.extract_date;
    create temp table reporting_changed_nights on commit drop as
    select coalesce(cur.extract_date, old.extract_date) as extract_date
    from pg_temp.reporting_state as cur
    full join core.reporting_night_state as old on cur.extract_date = old.extract_date
    {%- if is_incremental() %}
    where cur.state is distinct from old.state
    {%- endif %};
    analyze pg_temp.reporting_changed_nights
{%- endmacro %}

{#- pre-hook (incremental): remove the changed nights (the select re-inserts those that
    still exist). -#}
{% macro reporting_nights_delete() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as t
    using pg_temp.reporting_changed_nights as c
    where t.extract_date = c.extract_date
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- post-hook of reporting_lao_nights: the state consumed, each changed night pending. -#}
{% macro reporting_nights_record() -%}
    insert into core.reporting_night_state as s (extract_date, fiscal_year_be, state, pending)
    select c.extract_date, {{ fiscal_year_be('c.extract_date') }}, cur.state, true
    from pg_temp.reporting_changed_nights as c
    left join pg_temp.reporting_state as cur on c.extract_date = cur.extract_date
    on conflict (extract_date) do update set state = excluded.state, pending = true
{%- endmacro %}

{#- The fiscal years agg_reporting_lao_fy recomputes: those of the pending nights. -#}
{% macro reporting_pending_years() -%}
    select distinct p.fiscal_year_be
    from core.reporting_night_state as p
    where p.pending
{%- endmacro %}

{#- post-hook of agg_reporting_lao_fy: the pending nights are consumed; tombstones go. -#}
{% macro reporting_years_consumed() -%}
    delete from core.reporting_night_state where pending and state is null;
    update core.reporting_night_state set pending = false where pending
{%- endmacro %}

{#- The reporting marts' own aggregates (core.agg_submissions_province_night,
    core.fct_missing_submissions) recompute the same pending nights, between
    reporting_lao_nights (which marks them) and agg_reporting_lao_fy (which clears the
    marks and requires both built in its build), so reporting_compliance and
    missing_submissions no longer read every submission of history each night. A model
    that stores what it read from the LAO registry (``digest_sql``: a digest of those
    columns of dim_lao) recomputes every night when that changed.

    pre-hook: pg_temp.reporting_plan (redo_all), then remove what the select re-inserts. -#}
{% macro reporting_nights_plan_delete(digest_sql=none) -%}
    {%- if is_incremental() -%}
    create temp table reporting_plan on commit drop as
    select {% if digest_sql %}(select w.digest from core.model_watermarks as w where w.model = '{{ this.identifier }}')
        is distinct from {{ digest_sql }}{% else %}false{% endif %} as redo_all;
    {{ truncate_if_redo('reporting_plan') }};
    delete from {{ this }} as t
    using core.reporting_night_state as p
    where t.extract_date = p.extract_date and p.pending
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- In the select: the rows of ``relation`` (aliased ``alias``) to aggregate: the pending
    nights', or, for a model with a digest (``redo``), all of them when the plan says redo
    (two branches, each skipped by a one-time filter, so the pending branch reads those
    nights through the index). Only such a model has the second branch: the planner sizes
    a join above it for every row of history (a missing file's reason looked up in all of
    ops.files: 1.2 s for a night's 1,205 rows, against 9 ms through the ledger's key).
    Every row on a full build. -#}
{% macro reporting_nights_rows(relation, alias, redo=false) -%}
    {%- if is_incremental() -%}
    (
        select {{ alias }}.*
        from {{ relation }} as {{ alias }}
        inner join core.reporting_night_state as p
            on {{ alias }}.extract_date = p.extract_date and p.pending
        where not (select rp.redo_all from pg_temp.reporting_plan as rp)
        {%- if redo %}
        union all
        select {{ alias }}.*
        from {{ relation }} as {{ alias }}
        where (select rp.redo_all from pg_temp.reporting_plan as rp)
        {%- endif %}
    )
    {%- else -%}
    {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- What reporting_compliance reads of the LAO registry: its LAOs and their provinces'
    codes and names. -#}
{% macro registry_provinces_digest() -%}
    {{ dim_lao_digest(['lao_code', 'province_code', 'province_name_th', 'province_name_en']) }}
{%- endmacro %}

{#- pre-hook of agg_reporting_lao_fy, which clears the pending marks: both aggregates
    that read them ran in this build (a night closed again writes no change id, so
    require_built_in_this_build's change_hi cannot tell), on a full refresh too. -#}
{% macro require_reporting_aggregates_built() -%}
    do $$
    begin
        if exists (
            select from (values ('agg_submissions_province_night'), ('fct_missing_submissions')) as m (model)
            left join core.model_watermarks as w on w.model = m.model
            where w.updated_at is null
                or w.updated_at < (select bs.started_at from core.build_state as bs)
        ) then
            raise exception 'agg_submissions_province_night and fct_missing_submissions were not built in this build: build them with this model (dbt build --select +{{ this.identifier }})';
        end if;
    end
    $$
{%- endmacro %}
