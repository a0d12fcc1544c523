{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['lao_code', 'fiscal_year_be', 'account_code'],
    on_schema_change='fail',
    pre_hook=[
        "{{ require_built_in_this_build('fct_tax_receipts') }}",
        "{{ revenue_reset_unless_deltas_apply() }}",
    ],
    post_hook=[
        "delete from {{ this }} where receipts_ytd + cancelled_ytd = 0 and receipts_prev_all = 0",
        "{{ advance_watermark() }}",
        "{{ revenue_record_cuts() }}",
    ],
    indexes=[{'columns': ['lao_code', 'fiscal_year_be', 'account_code'], 'unique': True}],
) }}
-- Own revenue per LAO, fiscal year and account: the fiscal year to date and the same span of
-- the previous fiscal year (macros/revenue.sql), the base of revenue_by_lao_account(_detail).
-- A night changes the rows by what it changed (the receipts its changes touched, and the
-- receipts between each year's old and new cut), not by re-reading every receipt.
-- The as-of date and years the sums were last cut at are on the model's watermark row.
-- Grain: lao_code x fiscal_year_be x account_code.
{% if revenue_deltas_apply() %}
    with cuts_before as (
        {{ revenue_cuts(
            "select unnest(w.fiscal_years) as fiscal_year_be from core.model_watermarks as w where w.model = '" ~ this.identifier ~ "'",
            "select w.as_of from core.model_watermarks as w where w.model = '" ~ this.identifier ~ "'",
        ) }}
    ),

    cuts_now as (
        {{ revenue_cuts(revenue_fiscal_years(), revenue_as_of()) }}
    ),

    cuts as (
        -- each year's cuts before and after this build ('-infinity': no such year then)
        select
            coalesce(o.fiscal_year_be, n.fiscal_year_be) as fiscal_year_be,
            coalesce(o.current_cut, '-infinity'::date) as old_current,
            coalesce(n.current_cut, '-infinity'::date) as new_current,
            coalesce(o.previous_cut, '-infinity'::date) as old_previous,
            coalesce(n.previous_cut, '-infinity'::date) as new_previous
        from cuts_before as o
        full outer join cuts_now as n on o.fiscal_year_be = n.fiscal_year_be
    ),

    old_cuts as (
        select
            fiscal_year_be,
            old_current as current_cut,
            old_previous as previous_cut
        from cuts
    ),

    changes as (
        {{ revenue_contributions('core.tax_receipt_deltas', 'old_cuts') }}
        union all
        {{ revenue_cut_moves('cuts') }}
    ),

    delta as (
        {{ revenue_sums('select * from changes') }}
    )

    select
        d.lao_code,
        d.fiscal_year_be,
        d.account_code,
        (coalesce(t.amount_ytd, 0) + d.amount_ytd)::numeric as amount_ytd,
        (coalesce(t.receipts_ytd, 0) + d.receipts_ytd)::bigint as receipts_ytd,
        (coalesce(t.cancelled_ytd, 0) + d.cancelled_ytd)::bigint as cancelled_ytd,
        (coalesce(t.amount_prev_ytd, 0) + d.amount_prev_ytd)::numeric as amount_prev_ytd,
        (coalesce(t.receipts_prev_ytd, 0) + d.receipts_prev_ytd)::bigint as receipts_prev_ytd,
        (coalesce(t.receipts_prev_all, 0) + d.receipts_prev_all)::bigint as receipts_prev_all
    from delta as d
    left join {{ this }} as t
        on d.lao_code = t.lao_code and d.fiscal_year_be = t.fiscal_year_be and d.account_code = t.account_code
{% else %}
    with cuts as (
        {{ revenue_cuts(revenue_fiscal_years(), revenue_as_of()) }}
    ),

    receipts as (
        select
            1 as sign,
            r.lao_code,
            r.fiscal_year_be,
            r.account_code,
            r.receipt_date,
            r.net_amount,
            r.is_cancelled
        from {{ ref('fct_tax_receipts') }} as r
    )

    {{ revenue_sums(revenue_contributions('receipts', 'cuts')) }}
{% endif %}
