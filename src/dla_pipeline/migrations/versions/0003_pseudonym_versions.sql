-- Release 0.2: pseudonyms per purpose (HKDF) with the key version beside every hash.
alter table raw.allowance_payments add column if not exists key_version smallint not null default 1;
alter table raw.tax_receipts add column if not exists key_version smallint not null default 1;
alter table raw.allowance_payments_retracted add column if not exists key_version smallint not null default 1;
alter table raw.tax_receipts_retracted add column if not exists key_version smallint not null default 1;
alter table raw.vaccination_reports add column if not exists key_version smallint not null default 1;
alter table raw.vaccination_reports_retracted add column if not exists key_version smallint not null default 1;
