{#- Scorecard rules (seeds scorecard_indicators and scorecard_groups, vars
    scorecard_min_indicators / scorecard_min_domains). An indicator scores 0 at its
    floor_value and 1 at its target_value, linearly in between and clamped: so a small move
    in one indicator moves the composite a little, never across two groups. -#}
{% macro indicator_score(value_expr, floor_expr, target_expr) -%}
    greatest(0, least(1, (({{ value_expr }}) - ({{ floor_expr }}))
        / nullif(({{ target_expr }}) - ({{ floor_expr }}), 0)))
{%- endmacro %}

{#- The group of a composite score, or not_rated when too few indicators or domains. -#}
{% macro scorecard_group(composite_expr, indicators_expr, domains_expr) -%}
    case
        when {{ indicators_expr }} < {{ var('scorecard_min_indicators') }}
            or {{ domains_expr }} < {{ var('scorecard_min_domains') }} then 'not_rated'
        else (select g.group_name from {{ ref('scorecard_groups') }} as g
            where {{ composite_expr }} >= g.min_score order by g.rank_order limit 1)
    end
{%- endmacro %}
