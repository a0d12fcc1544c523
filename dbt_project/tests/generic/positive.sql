{#- Every non-null value is > 0 (written here: the dbt package hub is unreachable). -#}
{% test positive(model, column_name) %}
select {{ column_name }} from {{ model }} where {{ column_name }} <= 0
{% endtest %}
