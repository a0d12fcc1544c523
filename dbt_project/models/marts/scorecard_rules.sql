-- The scorecard rules in force, for analysts and BI tools: each indicator's domain, weight,
-- direction, floor and target (seed scorecard_indicators), each group's minimum composite
-- score (seed scorecard_groups) and the eligibility rule (vars scorecard_min_indicators,
-- scorecard_min_domains). Grain: rule_type x name.
select
    'indicator' as rule_type,
    i.indicator as name,
    i.domain,
    i.weight::numeric(6, 4) as weight,
    i.direction,
    i.floor_value::numeric(12, 4) as floor_value,
    i.target_value::numeric(12, 4) as target_value,
    null::numeric(6, 4) as min_score,
    null::int as rank_order,
    null::int as min_indicators,
    null::int as min_domains,
    i.description
from {{ ref('scorecard_indicators') }} as i
union all
select
    'group',
    g.group_name,
    null,
    null,
    null,
    null,
    null,
    g.min_score::numeric(6, 4),
    g.rank_order,
    null,
    null,
    'Composite score (weighted mean of indicator scores 0-1) of at least ' || g.min_score
from {{ ref('scorecard_groups') }} as g
union all
select
    'eligibility',
    'not_rated',
    null,
    null,
    null,
    null,
    null,
    null,
    null,
    {{ var('scorecard_min_indicators') }},
    {{ var('scorecard_min_domains') }},
    'Graded only with at least {{ var("scorecard_min_indicators") }} indicators from at least '
    || '{{ var("scorecard_min_domains") }} domains; otherwise not_rated, with the reason'
