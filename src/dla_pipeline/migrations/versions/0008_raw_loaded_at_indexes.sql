-- Nothing reads raw rows by their load time any more (models find a night's changes
-- through the ledger's change ids, the purge by the night): the indexes on loaded_at only
-- cost each COPY (a national allowance night: 4.3 s of server time with it, 3.4 s without).
drop index if exists raw.allowance_payments_loaded;
drop index if exists raw.tax_receipts_loaded;
drop index if exists raw.vaccination_reports_loaded;
