{#- Use the configured schema name as is (staging, marts_build), not target_custom.
    For the docs site (var docs_published: true, set by `make docs`) the marts are shown where
    analysts query them: marts_build -> marts, restricted_build -> restricted. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set name = target.schema if custom_schema_name is none else custom_schema_name | trim -%}
    {%- if var('docs_published', false) and name in ('marts_build', 'restricted_build') -%}
        {{ name | replace('_build', '') }}
    {%- else -%}
        {{ name }}
    {%- endif -%}
{%- endmacro %}
