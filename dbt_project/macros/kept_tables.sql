{#- Kept tables: a mart too large to rebuild every night (it grows with history) that is
    updated in place, like the core facts, although publishing moves what dbt built.

    Two copies take turns. Publishing moves the built table to marts_store, where readers
    see it, and moves the copy it replaces back here (publish.py, Target.kept), so the next
    build finds a table one publish behind and brings it up to date: it recomputes the keys
    touched since that copy's own watermark, which may span several builds. The watermark
    belongs to the physical table (its oid), not to the model name: each copy knows how
    far it got. A copy is rebuilt whole, inside the incremental run, when it has no
    watermark (a full refresh or a key rotation since it was built: publishing drops such
    a copy rather than hand it back), when what it copies from a dimension changed (a
    digest of those columns), or when it lags more than var('kept_table_max_lag_days')
    (the rows a re-send replaced, which say what it took away, are purged
    retention.yml's retracted_days after the re-send). It runs only inside a build (its
    pre-hooks make the temporary tables its select reads: `dbt show` cannot run it). -#}

{% macro kept_watermark_key() -%}
    '{{ this.identifier }}#' || to_regclass('{{ this }}')::oid
{%- endmacro %}

{#- The copy's watermark, inside a run (kept_table_plan has read it). -#}
{% macro kept_since() -%}
    (select p.since from pg_temp.kept_plan as p)
{%- endmacro %}

{#- pre-hook: what this run recomputes, in two temporary tables of its transaction:
    pg_temp.kept_plan (redo_all, since) and pg_temp.kept_keys (the keys ``touched_sql``
    gives, written with kept_since(); empty when the copy is rebuilt whole). -#}
{% macro kept_table_plan(digest_sql, touched_sql) -%}
    {%- if is_incremental() -%}
    create temp table kept_plan on commit drop as
    select
        (w.change_id is null
            or w.digest is distinct from {{ digest_sql }}
            or w.updated_at < now() - interval '{{ var("kept_table_max_lag_days") }} days') as redo_all,
        coalesce(w.change_id, 0) as since
    from (select 1) as one
    left join core.model_watermarks as w on w.model = {{ kept_watermark_key() }};
    create temp table kept_keys on commit drop as
    select k.*
    from ({{ touched_sql }}) as k
    where not (select p.redo_all from pg_temp.kept_plan as p);
    analyze pg_temp.kept_keys
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- In a pre-hook, after a plan table (pg_temp.``plan``, one row, redo_all): empty the model's
    table when the plan says it is rebuilt whole. -#}
{% macro truncate_if_redo(plan) -%}
    do $$
    begin
        if (select p.redo_all from pg_temp.{{ plan }} as p) then
            truncate {{ this }};
        end if;
    end
    $$
{%- endmacro %}

{#- pre-hook (after the plan): remove what the run re-inserts: everything when the copy is
    rebuilt whole, else the touched keys and the rows ``always_where`` selects (a small
    part recomputed every run). -#}
{% macro kept_table_delete(key_columns, always_where) -%}
    {%- if is_incremental() -%}
    {{ truncate_if_redo('kept_plan') }};
    delete from {{ this }} as t
    using pg_temp.kept_keys as k
    where {% for col in key_columns %}t.{{ col }} = k.{{ col }}{% if not loop.last %} and {% endif %}{% endfor %};
    delete from {{ this }} where {{ always_where }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- In the model's select: the rows of ``relation`` (aliased ``alias``) to insert: the
    touched keys', or all of them when the copy is rebuilt whole (two branches, each
    skipped by a one-time filter, so the touched branch can join instead of probing every
    row). Every row on a full build. -#}
{% macro kept_table_rows(columns, relation, alias, key_columns) -%}
    {%- if is_incremental() -%}
    select {{ columns }}
    from {{ relation }} as {{ alias }}
    inner join pg_temp.kept_keys as k
        on {% for col in key_columns %}{{ alias }}.{{ col }} = k.{{ col }}{% if not loop.last %} and {% endif %}{% endfor %}
    where not (select p.redo_all from pg_temp.kept_plan as p)
    union all
    select {{ columns }}
    from {{ relation }} as {{ alias }}
    where (select p.redo_all from pg_temp.kept_plan as p)
    {%- else -%}
    select {{ columns }}
    from {{ relation }} as {{ alias }}
    {%- endif -%}
{%- endmacro %}

{#- post-hook: the copy's primary key, added after a full build (an index built from
    sorted rows: a few seconds, where maintaining it row by row through the insert of
    millions took four times longer), then kept by each night's inserts. PostgreSQL names
    it, so it never collides with the index of the copy it replaces. -#}
{% macro kept_table_key(columns) -%}
    do $$
    begin
        if not exists (
            select from pg_constraint as c
            where c.conrelid = '{{ this }}'::regclass and c.contype = 'p'
        ) then
            alter table {{ this }} add primary key ({{ columns | join(', ') }});
        end if;
    end
    $$
{%- endmacro %}

{#- post-hook: the copy's lookup index on its keys (the delete of the touched keys finds
    their rows through it instead of scanning every row of history), created once per copy,
    like the primary key: publishing renames both after the copy. -#}
{% macro kept_table_index(columns) -%}
    do $$
    begin
        if not exists (
            select from pg_index as i
            where i.indrelid = '{{ this }}'::regclass and not i.indisprimary
        ) then
            create index on {{ this }} ({{ columns | join(', ') }});
        end if;
    end
    $$
{%- endmacro %}

{#- post-hook: this copy has consumed every change up to change_hi, with this digest. A
    full refresh forgets the other copy's watermark (it was built by other code or keys:
    it is rebuilt whole when it comes back); watermarks of dropped copies go. -#}
{% macro advance_kept_watermark(digest_sql) -%}
    insert into core.model_watermarks (model, change_id, digest, updated_at)
    values ({{ kept_watermark_key() }}, {{ change_hi() }}, {{ digest_sql }}, now())
    on conflict (model) do update
        set change_id = excluded.change_id, digest = excluded.digest, updated_at = now();
    delete from core.model_watermarks as w
    where w.model like '{{ this.identifier }}#%'
        and w.model <> {{ kept_watermark_key() }}
        and ({{ 'true' if (flags is defined and flags.FULL_REFRESH) else 'false' }}
            or not exists (
                select from pg_class as c
                where c.oid = split_part(w.model, '#', 2)::oid
                    and c.relname like '%{{ this.identifier }}%'
            ))
{%- endmacro %}
