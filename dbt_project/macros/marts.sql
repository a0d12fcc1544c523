{#- Conventions every mart follows (README "Units and names"):
    *_rate is a fraction 0-1; money is baht numeric(18,2); fiscal years are BE integers;
    every time-grain mart has a real date column and an is_latest_period or
    is_current_fiscal_year flag, so a BI filter never needs a sub-query. -#}

{#- The date the published marts describe: the night being built, else the latest night. -#}
{% macro marts_as_of() -%}
    {{ as_of_date('select coalesce(max(extract_date), current_date) from ' ~ source('ops', 'nights')) }}
{%- endmacro %}

{% macro rate(numerator, denominator) -%}
    round(({{ numerator }})::numeric / nullif({{ denominator }}, 0), 4)::numeric(6, 4)
{%- endmacro %}

{% macro baht(expr) -%}
    ({{ expr }})::numeric(18, 2)
{%- endmacro %}

{#- true on the rows of the latest value of period_col in the whole mart -#}
{% macro is_latest(period_col) -%}
    coalesce({{ period_col }} = max({{ period_col }}) over (), false)
{%- endmacro %}

{% macro is_current_fiscal_year(fy_col) -%}
    coalesce({{ fy_col }} = {{ fiscal_year_be(marts_as_of()) }}, false)
{%- endmacro %}
