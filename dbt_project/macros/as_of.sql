{#- The date the marts describe: the night being built (core.build_state, written by `dla`
    before each dbt invocation), else the latest data. -#}
{% macro as_of_date(fallback_sql) -%}
    coalesce((select bs.night from core.build_state as bs), ({{ fallback_sql }}))
{%- endmacro %}

{#- A data test's `where`: only the night being built, or every row outside a build. -#}
{% macro only_this_night(column) -%}
    {{ column }} = coalesce((select bs.night from core.build_state as bs), {{ column }})
{%- endmacro %}
