{#- The allowance payment deadline for a period (first day of the month): the 10th, or the
    Friday before when the 10th falls on a weekend (public holidays are not modelled). -#}
{% macro allowance_deadline(period_expr) -%}
    (({{ period_expr }})::date + ({{ var('allowance_payment_deadline_day') }} - 1)
        - case extract(isodow from ({{ period_expr }})::date + ({{ var('allowance_payment_deadline_day') }} - 1))
            when 6 then 1 when 7 then 2 else 0 end)
{%- endmacro %}

{#- Rows loaded after what an incremental model already holds (the watermark). -#}
{% macro loaded_since_watermark(loaded_at_column='loaded_at') -%}
    {{ loaded_at_column }} > (select coalesce(max(loaded_at), '-infinity'::timestamptz) from {{ this }})
{%- endmacro %}


{#- The (LAO, payment period) groups that received allowance rows since the calling
    incremental model's watermark: the groups it must recompute. -#}
{% macro allowance_groups_touched() -%}
    select distinct lao_code, payment_period
    from {{ ref('fct_allowance_payments') }}
    {% if is_incremental() %}
    where {{ loaded_since_watermark() }}
    {% endif %}
{%- endmacro %}
