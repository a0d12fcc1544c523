-- Release 0.2: access for people (province scoping), PDPA erasure and retention.

-- The gate's views of raw carry no clear IDs and live in schema gate (release 0.1 kept
-- them in ops, with citizen_id).
drop view if exists ops.gate_allowance_payments, ops.gate_tax_receipts, ops.gate_vaccination_reports;

create schema if not exists access;

-- The people `dla users` manages (no password is stored anywhere in the project).
create table if not exists access.people (
    login         text primary key,
    role          text not null check (role in ('central_analyst', 'province_officer', 'bi_service', 'auditor')),
    province_code text,
    created_at    timestamptz not null default now(),
    created_by    text not null default session_user
);

-- Which provinces a role (a login or a group) sees; '*' means every province. Row-level
-- security on every published mart with a province_code reads it through my_provinces.
create table if not exists access.role_provinces (
    role_name     text not null,
    province_code text not null check (province_code = '*' or province_code ~ '^[0-9]{2}$'),
    primary key (role_name, province_code)
);

-- The provinces of the querying user (through every group it belongs to). A view owned
-- by the pipeline: people may read it, not the mapping table behind it.
create or replace view access.my_provinces as
select rp.province_code
from access.role_provinces as rp
inner join pg_catalog.pg_roles as r on r.rolname = rp.role_name
where pg_catalog.pg_has_role(current_user, r.oid, 'member');

-- Erasure tombstones (PDPA): a keyed token of the ID, never the ID. A row of a reloaded
-- file that carries an erased ID is quarantined as 'erased', without its content.
create table if not exists ops.erasures (
    erasure_id    bigserial primary key,
    purpose       text not null check (purpose in ('citizen', 'taxpayer')),
    token         text not null,
    erased_at     timestamptz not null default now(),
    erased_by     text not null,
    rows_removed  jsonb not null default '{}'::jsonb,
    unique (purpose, token)
);

-- What the nightly purge removed under the retention periods (config/retention.yml).
create table if not exists ops.purge_log (
    purged_at  timestamptz not null default now(),
    what       text not null,
    older_than date,
    rows       bigint not null default 0,
    files      integer not null default 0
);

-- Which seed files were loaded last (release 0.1 created it on first use).
create table if not exists ops.seed_state (
    sha256    text not null,
    loaded_at timestamptz not null default now()
);
