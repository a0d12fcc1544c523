{#- The date the marts describe: the night being built, else the latest data. -#}
{% macro as_of_date(fallback_sql) -%}
    {%- if var('night') -%}'{{ var('night') }}'::date{%- else -%}({{ fallback_sql }}){%- endif -%}
{%- endmacro %}
