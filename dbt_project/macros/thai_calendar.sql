{#- Thai calendar helpers shared by models (fiscal year starts 1 October; BE = CE + 543). -#}

{% macro fiscal_year_be(date_expr) -%}
    (extract(year from {{ date_expr }})::int + 543 + case when extract(month from {{ date_expr }}) >= 10 then 1 else 0 end)
{%- endmacro %}

{#- Fiscal quarter 1-4: Q1 = October-December. -#}
{% macro fiscal_quarter(date_expr) -%}
    ((((extract(month from {{ date_expr }})::int + 2) % 12) / 3) + 1)
{%- endmacro %}

{#- First day of a BE fiscal year (1 October of the previous CE year). -#}
{% macro fiscal_year_start(fy_be_expr) -%}
    make_date(({{ fy_be_expr }}) - 544, 10, 1)
{%- endmacro %}

{% macro be_year(date_expr) -%}
    (extract(year from {{ date_expr }})::int + 543)
{%- endmacro %}

{#- Age in whole years on a given date. -#}
{% macro age_on(birth_date, on_date) -%}
    extract(year from age({{ on_date }}, {{ birth_date }}))::int
{%- endmacro %}
