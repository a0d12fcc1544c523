-- noqa: disable=all
-- marts.readme: what an analyst can read and what each mart is, from the dbt docs (so the
-- text has one source). Grain: topic x name.
select * from (values
    ('schema', 'marts', 'What you query: the published marts. Province officers see only their province.'),
    ('schema', 'restricted', 'Person- and receipt-level marts: auditors only.'),
    ('schema', 'raw, ops, staging, core, marts_build, restricted_build, marts_store',
        'The pipeline''s own schemas: not readable by analysts.'),
    ('convention', '*_rate', 'A fraction from 0 to 1 (0.8 = 80%). Nothing is in percent.'),
    ('convention', 'money', 'Baht, numeric(18,2).'),
    ('convention', 'fiscal_year_be', 'Buddhist-era fiscal year (starts 1 October); fiscal_year_start_date is its first day.'),
    ('convention', 'is_latest_period / is_current_fiscal_year', 'Filters for the latest period and this fiscal year.'),
    ('convention', 'is_suppressed', 'A cell of fewer than {{ var("small_cell_k") }} people or receipts shows NULL figures.'),
    ('convention', 'reported', 'An accepted file that night, a header-only file ("nothing to report") included.'),
    ('mart', 'marts.data_as_of', 'Freshness: the latest published night and when it was published. One row.'),
    ('mart', 'marts.published_nights', 'Every published night and when. Grain: extract_date.')
    {%- set nodes = graph.nodes.values() if graph is defined else [] %}
    {%- for node in nodes | sort(attribute='name')
        if node.resource_type == 'model' and node.fqn[1] == 'marts' and node.name != 'readme' %}
    , ('mart', 'marts.{{ node.name }}', '{{ node.description | replace("\n", " ") | replace("'", "''") | trim }}')
    {%- endfor %}
) as r (topic, name, description)
