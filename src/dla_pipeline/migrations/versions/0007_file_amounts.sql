-- Baht loaded per file (NULL for a source without amounts): the quality gate reads each
-- LAO's usual rows and baht per night from the ledger instead of scanning raw.
alter table ops.files add column if not exists amount_loaded numeric(18, 2);

-- files loaded before this revision: their baht, from the rows they loaded
update ops.files as f
set amount_loaded = r.amount
from (
    select extract_date, source_file, sum(amount) as amount
    from raw.allowance_payments
    group by extract_date, source_file
) as r
where f.source = 'allowance' and f.extract_date = r.extract_date and f.file_name = r.source_file;

update ops.files as f
set amount_loaded = r.amount
from (
    select extract_date, source_file, sum(amount) as amount
    from raw.tax_receipts
    group by extract_date, source_file
) as r
where f.source = 'tax' and f.extract_date = r.extract_date and f.file_name = r.source_file;
