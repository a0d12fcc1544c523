{#- The date the marts describe: the night being built (core.build_state, written by `dla`
    before each dbt invocation), else the latest data. -#}
{% macro as_of_date(fallback_sql) -%}
    coalesce((select bs.night from core.build_state as bs), ({{ fallback_sql }}))
{%- endmacro %}

{#- A data test's `where` may say `<column> = __this_night__`: only the night being built
    (core.build_state), or every row outside a build. It becomes a range on the bare column,
    so the night's index serves it (`column = coalesce(night, column)` read the whole table
    on every night). The rest is dbt's own get_where_subquery. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if not where -%}
        {%- do return(relation) -%}
    {%- endif -%}
    {%- set night = '(select bs.night from core.build_state as bs)' -%}
    {%- set where = where | replace(
        '= __this_night__',
        "between coalesce(" ~ night ~ ", '-infinity'::date) and coalesce(" ~ night ~ ", 'infinity'::date)"
    ) -%}
    {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
{%- endmacro %}
