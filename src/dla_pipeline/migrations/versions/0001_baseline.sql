-- Warehouse objects owned by the pipeline (idempotent; run by `dla migrate` and before loads).
-- raw:   typed rows as received, with lineage. Holds clear citizen/taxpayer IDs: only the
--        owner role may read it.
-- ops:   load audit, current-file registry, quarantine, nightly summaries, quality results.
-- staging, marts_build: dbt output, never visible to analysts.
-- marts: published marts; the reader group gets SELECT when a night is published.
create schema if not exists raw;
create schema if not exists ops;
create schema if not exists staging;
create schema if not exists marts_build;
create schema if not exists marts;
-- versioned mart tables; marts.<name> are views onto the published version
create schema if not exists marts_store;

create sequence if not exists ops.load_id_seq;

create table if not exists raw.allowance_payments (
    load_id              bigint      not null,
    lao_code             text        not null,
    extract_date         date        not null,
    source_file          text        not null,
    file_sha256          text        not null,
    row_no               integer     not null,
    citizen_id           text        not null,
    person_key           text        not null,
    birth_date           date        not null,
    birth_date_precision text        not null,
    payment_period       date        not null,
    amount               numeric(14, 2) not null,
    paid_on              date        not null,
    channel              text        not null,
    status               text        not null,
    extra                jsonb,
    loaded_at            timestamptz not null default now()
);
create index if not exists allowance_payments_night on raw.allowance_payments (extract_date, lao_code);
-- incremental models read the rows loaded since their watermark
create index if not exists allowance_payments_loaded on raw.allowance_payments (loaded_at);

create table if not exists raw.tax_receipts (
    load_id       bigint      not null,
    lao_code      text        not null,
    extract_date  date        not null,
    source_file   text        not null,
    file_sha256   text        not null,
    row_no        integer     not null,
    receipt_no    text        not null,
    receipt_date  date        not null,
    account_code  text        not null,
    revenue_type  text,
    parcel_id     text,
    taxpayer_id   text        not null,
    taxpayer_key  text        not null,
    amount        numeric(14, 2) not null,
    fiscal_year   integer     not null,
    status        text        not null,
    extra         jsonb,
    loaded_at     timestamptz not null default now()
);
create index if not exists tax_receipts_night on raw.tax_receipts (extract_date, lao_code);
-- incremental models read the rows loaded since their watermark
create index if not exists tax_receipts_loaded on raw.tax_receipts (loaded_at);
-- fct_tax_receipts recomputes the receipts a night touched (a later cancellation included)
create index if not exists tax_receipts_receipt on raw.tax_receipts (lao_code, fiscal_year, receipt_no);

create table if not exists raw.vaccination_reports (
    load_id          bigint      not null,
    lao_code         text        not null,
    extract_date     date        not null,
    source_file      text        not null,
    file_sha256      text        not null,
    row_no           integer     not null,
    village_no       integer     not null,
    species          text        not null,
    surveyed         integer     not null,
    owned            integer,
    ownerless        integer,
    vaccinated       integer,
    vaccination_date date        not null,
    fiscal_year      integer     not null,
    extra            jsonb,
    loaded_at        timestamptz not null default now()
);
create index if not exists vaccination_reports_night on raw.vaccination_reports (extract_date, lao_code);
-- incremental models read the rows loaded since their watermark
create index if not exists vaccination_reports_loaded on raw.vaccination_reports (loaded_at);
create index if not exists vaccination_reports_village on raw.vaccination_reports (lao_code, village_no, species, fiscal_year);

-- The file currently accepted for each (source, night, name): a re-sent file replaces it.
create table if not exists ops.files (
    source           text    not null,
    extract_date     date    not null,
    file_name        text    not null,
    lao_code         text,
    sha256           text    not null,
    load_id          bigint  not null,
    status           text    not null check (status in ('loaded', 'rejected')),
    encoding         text,
    rows_in          integer not null,
    rows_loaded      integer not null,
    rows_quarantined integer not null,
    extra_columns    text[],
    error            text,
    loaded_at        timestamptz not null default now(),
    primary key (source, extract_date, file_name)
);

-- Load audit: one row per file per run, including files skipped as unchanged.
create table if not exists ops.file_loads (
    run_id           text,
    load_id          bigint  not null,
    source           text    not null,
    extract_date     date    not null,
    file_name        text    not null,
    lao_code         text,
    sha256           text,
    size_bytes       bigint,
    encoding         text,
    status           text    not null,  -- loaded | rejected | unchanged
    rows_in          integer not null default 0,
    rows_loaded      integer not null default 0,
    rows_quarantined integer not null default 0,
    extra_columns    text[],
    error            text,
    started_at       timestamptz not null,
    duration_ms      integer not null
);
create index if not exists file_loads_night on ops.file_loads (source, extract_date);

create table if not exists ops.quarantine (
    load_id        bigint  not null,
    source         text    not null,
    extract_date   date    not null,
    file_name      text    not null,
    lao_code       text,
    file_sha256    text,
    row_no         integer,           -- line in the file; null when the whole file is unreadable
    field          text,
    reason         text    not null,
    raw_line       text,
    quarantined_at timestamptz not null default now()
);
create index if not exists quarantine_file on ops.quarantine (source, extract_date, file_name);

-- One row per source and night: totals over the current files, and conservation.
create table if not exists ops.nights (
    source            text    not null,
    extract_date      date    not null,
    files             integer not null,
    files_rejected    integer not null,
    laos_reporting    integer not null,
    rows_in           bigint  not null,
    rows_loaded       bigint  not null,
    rows_quarantined  bigint  not null,
    conservation_ok   boolean not null,
    checked_at        timestamptz not null default now(),
    primary key (source, extract_date)
);

-- Quality gate results (one row per expectation per suite per run).
create table if not exists ops.quality_results (
    run_id        text        not null,
    extract_date  date        not null,
    suite         text        not null,
    expectation   text        not null,
    column_name   text,
    success       boolean     not null,
    observed      text,
    checked_at    timestamptz not null default now()
);

create table if not exists ops.publish_log (
    extract_date  date        not null,
    run_id        text        not null,
    status        text        not null,  -- published | blocked
    marts         text[]      not null,
    reason        text,
    published_at  timestamptz not null default now()
);

-- Reporting compliance: every registered LAO, per source and night: reported (a loaded
-- file, header-only included), rejected (sent, but the file was unusable) or missing.
create table if not exists ops.submissions (
    source        text not null,
    extract_date  date not null,
    lao_code      text not null,
    status        text not null check (status in ('reported', 'rejected', 'missing')),
    file_name     text,
    primary key (source, extract_date, lao_code)
);

create sequence if not exists ops.publish_seq;

-- Freshness for readers: which extract dates are published, and when (analysts can read it).
create table if not exists marts.published_nights (
    extract_date  date primary key,
    published_at  timestamptz not null,
    run_id        text not null
);
create or replace view marts.data_as_of as
select max(extract_date) as data_as_of, max(published_at) as published_at
from marts.published_nights;
