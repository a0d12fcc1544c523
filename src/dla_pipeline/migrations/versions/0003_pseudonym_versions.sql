-- Release 0.2: pseudonyms per purpose (HKDF) with the key version beside every hash.
-- Rows hashed by release 0.1 (one HMAC key, no purpose) get version 0: `make setup`
-- re-derives them from the clear IDs with the current keys (pdpa.rekey_legacy).
alter table raw.allowance_payments add column if not exists key_version smallint not null default 0;
alter table raw.tax_receipts add column if not exists key_version smallint not null default 0;
alter table raw.vaccination_reports add column if not exists key_version smallint not null default 0;
alter table raw.allowance_payments_retracted add column if not exists key_version smallint not null default 0;
alter table raw.tax_receipts_retracted add column if not exists key_version smallint not null default 0;
alter table raw.vaccination_reports_retracted add column if not exists key_version smallint not null default 0;
alter table raw.allowance_payments alter column key_version set default 1;
alter table raw.tax_receipts alter column key_version set default 1;
alter table raw.vaccination_reports alter column key_version set default 1;
alter table raw.allowance_payments_retracted alter column key_version set default 1;
alter table raw.tax_receipts_retracted alter column key_version set default 1;
alter table raw.vaccination_reports_retracted alter column key_version set default 1;
