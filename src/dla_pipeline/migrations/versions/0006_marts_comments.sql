-- psql \d+, SQLAlchemy and BI tools show these (the published marts get their dbt
-- descriptions at every publish).
comment on table marts.published_nights is
    'Which extract dates are published, and when. Grain: one row per extract_date. Primary key: extract_date.';
comment on column marts.published_nights.extract_date is 'A published night (extract date, CE).';
comment on column marts.published_nights.published_at is 'When its marts were last published.';
comment on column marts.published_nights.run_id is 'The run that published it (Airflow run id or dla run id).';
comment on view marts.data_as_of is
    'Freshness of the marts: the latest published night and when it was published. Grain: one row. Primary key: none (a single row).';
comment on column marts.data_as_of.data_as_of is 'The latest published extract date.';
comment on column marts.data_as_of.published_at is 'When the latest publish happened.';
