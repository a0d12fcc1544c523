-- Release 0.2: the landing zone as a trust boundary, reason codes, retractions, runs.

-- The quality gate's per-night views (no clear IDs) live apart from the ledger.
create schema if not exists gate;

-- Every entry found in a night folder, not only regular files: symlinks, folders, FIFOs,
-- sockets and devices are recorded (never read), and a second name for the same LAO is
-- recorded as superseded.
alter table ops.files drop constraint if exists files_status_check;
alter table ops.files add constraint files_status_check
    check (status in ('loaded', 'rejected', 'superseded'));
alter table ops.files alter column sha256 drop not null;
alter table ops.files add column if not exists reason_code text;
alter table ops.files add column if not exists entry_kind text not null default 'file';
alter table ops.files add column if not exists size_bytes bigint;
-- device:inode:size:mtime_ns of the entry when it was read: an unchanged file is not re-hashed
alter table ops.files add column if not exists stat_signature text;

alter table ops.file_loads add column if not exists reason_code text;
alter table ops.file_loads add column if not exists entry_kind text;

-- Quarantine keeps the reason as a code (the Thai wording and what to fix live in the
-- seed reason_codes) plus the readable detail.
alter table ops.quarantine add column if not exists reason_code text;

-- What does not follow the layout <source>/<YYYY-MM-DD>/<lao_code>.csv outside a night
-- folder: a date folder in BE or without zero padding, a file at the source root, an
-- unknown or wrongly cased folder, a symlinked folder. Recorded, never read.
create table if not exists ops.landing_issues (
    path_sha256   text primary key,
    path          text not null,
    -- 'root' for what sits at the landing root, else the source folder it is in; a scan
    -- of a source resolves the issues of its scopes that it no longer finds
    scope         text not null,
    source        text,
    extract_date  date,
    entry_kind    text not null,
    reason_code   text not null,
    reason        text not null,
    size_bytes    bigint,
    first_seen_at timestamptz not null default now(),
    last_seen_at  timestamptz not null default now(),
    resolved_at   timestamptz
);
create index if not exists landing_issues_night on ops.landing_issues (extract_date, source);

-- The change log of the ledger: one row each time an LAO-night's data was replaced (a new
-- file, a re-send, a retraction). Incremental models read the LAO-nights changed since
-- their watermark from here, so a retraction reaches the marts without a full refresh.
-- change_id is assigned from ops.change_counter at the end of the load transaction, so
-- changes commit in change_id order.
create table if not exists ops.lao_night_changes (
    change_id     bigint primary key,
    source        text   not null,
    extract_date  date   not null,
    lao_code      text   not null,
    load_id       bigint not null,
    rows_before   integer not null,
    rows_after    integer not null,
    changed_at    timestamptz not null default now()
);
create index if not exists lao_night_changes_night on ops.lao_night_changes (source, extract_date, lao_code);

create table if not exists ops.change_counter (
    id              boolean primary key default true check (id),
    last_change_id  bigint not null
);
insert into ops.change_counter (id, last_change_id) values (true, 0) on conflict do nothing;

-- Rows replaced by a re-send: kept until every incremental model has consumed the change
-- (the purge applies the retention), so models can find the keys the old rows touched.
create table if not exists raw.allowance_payments_retracted
    (like raw.allowance_payments, retracted_change_id bigint not null);
create index if not exists allowance_payments_retracted_change
    on raw.allowance_payments_retracted (retracted_change_id);
create table if not exists raw.tax_receipts_retracted
    (like raw.tax_receipts, retracted_change_id bigint not null);
create index if not exists tax_receipts_retracted_change
    on raw.tax_receipts_retracted (retracted_change_id);
create table if not exists raw.vaccination_reports_retracted
    (like raw.vaccination_reports, retracted_change_id bigint not null);
create index if not exists vaccination_reports_retracted_change
    on raw.vaccination_reports_retracted (retracted_change_id);

-- Runs of a night (make night, backfill, the DAGs): who ran what, which step it reached,
-- and whether it finished. A run that holds no lock but says 'running' was interrupted.
create table if not exists ops.runs (
    run_id        text primary key,
    extract_date  date,
    date_to       date,
    kind          text not null,
    runner        text not null,
    triggered_by  text,
    host          text,
    pid           integer,
    status        text not null check (status in ('running', 'succeeded', 'failed', 'interrupted')),
    step          text,
    steps         jsonb not null default '{}'::jsonb,
    message       text,
    started_at    timestamptz not null default now(),
    heartbeat_at  timestamptz not null default now(),
    finished_at   timestamptz
);
create index if not exists runs_night on ops.runs (extract_date, started_at);

-- The gate's severity is a column, not a suffix parsed back out of the expectation name.
alter table ops.quality_results add column if not exists severity text;
update ops.quality_results
set severity = case when expectation like '%[warning]' then 'warning' else 'blocking' end,
    expectation = regexp_replace(expectation, '\[(blocking|warning)\]$', '')
where severity is null;
alter table ops.quality_results alter column severity set not null;
alter table ops.quality_results drop constraint if exists quality_results_severity_check;
alter table ops.quality_results add constraint quality_results_severity_check
    check (severity in ('blocking', 'warning'));
