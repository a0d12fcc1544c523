{#- Thai calendar helpers shared by models (fiscal year starts 1 October; BE = CE + 543). -#}

{% macro fiscal_year_be(date_expr) -%}
    (extract(year from {{ date_expr }})::int + 543 + case when extract(month from {{ date_expr }}) >= 10 then 1 else 0 end)
{%- endmacro %}

{% macro be_year(date_expr) -%}
    (extract(year from {{ date_expr }})::int + 543)
{%- endmacro %}

{#- Age in whole years on a given date. -#}
{% macro age_on(birth_date, on_date) -%}
    extract(year from age({{ on_date }}, {{ birth_date }}))::int
{%- endmacro %}
