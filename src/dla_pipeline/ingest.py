"""Loading one night of one source: scan the landing zone, read each LAO's file with the
contract's one reader, COPY the accepted rows, quarantine the rest, keep the ledger.

Work is done in *batches* of LAO-nights (grouped by province), so a national night is
a handful of Airflow task instances, not 7,849. A batch is one transaction: the rows of
every changed file stream through one COPY into raw; each LAO-night a file replaces is
retracted as a whole (its old rows move to ``raw.<table>_retracted`` with a change id
from the ledger, which is how the marts learn about retractions); quarantine and ledger
rows are written; a crash anywhere rolls the whole batch back and the next run loads
it again. Unchanged files are skipped (same inode, size and mtime, or same SHA-256).

One file's problem is that file's problem: whatever goes wrong while reading or
converting it becomes that file's rejection, with the reason, and the batch goes on.
Should the database still refuse a row, the batch is retried one LAO-night at a time
and only the file it came from is rejected.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial

import psycopg

from . import ledger
from .config import Settings, get_settings
from .contract import (
    LINEAGE_COLUMNS,
    SOURCES,
    Context,
    Rules,
    Source,
    load_account_codes,
    load_lao_codes,
)
from .copytext import accepted_copy_text, quarantine_copy_text
from .db import connect, forked_pool, migrate
from .extract import Rejection, read_extract
from .landing import Entry, NightScan, landing_for
from .pseudonyms import mask_ids

log = logging.getLogger(__name__)

PROGRESS_EVERY = 500  # files
SPOOL_BYTES = 4 << 20  # a batch's COPY text kept in memory before it goes to a temp file
FILE_SPOOL_BYTES = 64 << 10  # one file's, until the file is read through
SMALL_FILE_BYTES = 8 << 20  # files up to this size are read into memory in one read


class ConservationError(RuntimeError):
    pass


# -- planning ---------------------------------------------------------------------------


def unit_key(entry: Entry) -> str:
    """The unit a load replaces as a whole: an LAO-night, or one stray entry."""
    return f"lao:{entry.lao_code}" if entry.lao_code else f"file:{entry.name}"


def scan_night(source: str, night: date, settings: Settings | None = None) -> NightScan:
    settings = settings or get_settings()
    return landing_for(settings.landing_dir).scan(source, night)


def batch_scan(scan: NightScan, keys: list[str]) -> NightScan:
    """The entries of a night's scan that a batch of unit keys loads: handed to the batch
    (``load_batch``) so that it need not list the night folder again."""
    wanted = set(keys)
    return NightScan(scan.source, scan.night, [e for e in scan.entries if unit_key(e) in wanted])


def unit_group(key: str) -> str:
    """The group a unit is batched and locked with: its province (digits 2-3 of the LAO
    code), or one group for every stray file."""
    return key[5:7] if key.startswith("lao:") else "??"


def plan_batches(scan: NightScan, batches: int) -> list[list[str]]:
    """Unit keys grouped by province (``unit_group``), balanced into N batches."""
    by_province: dict[str, list[str]] = {}
    for key in sorted({unit_key(e) for e in scan.entries}):
        by_province.setdefault(unit_group(key), []).append(key)
    bins: list[list[str]] = [[] for _ in range(max(1, min(batches, len(by_province))))]
    for _province, keys in sorted(by_province.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        min(bins, key=len).extend(keys)
    return [sorted(b) for b in bins if b]


def refusal(entry: Entry, registry: frozenset[str], max_bytes: int) -> tuple[str, str, str] | None:
    """Why an entry is refused as a whole (its path, its size over ``max_bytes``, its LAO
    code), or None. The loader and the reconciliation both ask it, with the same bound."""
    if entry.reject:
        return entry.reject
    if max_bytes and (entry.size or 0) > max_bytes:
        return (
            "file_too_large",
            f"{entry.name} is {entry.size:,} bytes, more than the {max_bytes:,} an extract may be: not read",
            "rejected",
        )
    if entry.lao_code and entry.lao_code not in registry:
        return ("unknown_lao", f"unknown LAO code {entry.lao_code} in the path", "rejected")
    return None


def make_context(settings: Settings, night: date, erased: dict | None = None) -> Context:
    """What the reader needs beyond a file's bytes (``erased``: the ledger's tombstones)."""
    from .pseudonyms import Keys

    keys = Keys.from_settings(settings)
    return Context(
        extract_date=night,
        citizen_key=keys.citizen,
        taxpayer_key=keys.taxpayer,
        key_version=keys.version,
        account_codes=load_account_codes(settings.dbt_dir / "seeds"),
        rules=Rules.load(settings.config_dir / "contract.yml"),
        erasure_secret=settings.erasure_secret,
        erased=erased or {},
    )


# -- one batch ----------------------------------------------------------------------------


@dataclass
class _Unit:
    key: str
    entries: list[Entry]
    lao_code: str | None
    records: list[ledger.FileRecord] = field(default_factory=list)
    # where its COPY text sits in the batch's spools: (start, end) byte offsets
    raw_span: tuple[int, int] = (0, 0)
    q_span: tuple[int, int] = (0, 0)
    rows_after: int = 0


def _spool(size: int = SPOOL_BYTES):
    """Bytes kept in memory up to ``size``, then in a private temp file (umask 077)."""
    return tempfile.SpooledTemporaryFile(size, mode="w+b")  # noqa: SIM115


def _blocks(spool, span: tuple[int, int] | None = None):
    """The bytes of a spool (or of one span of it), a megabyte at a time."""
    start, end = span or (0, None)
    spool.seek(start)
    left = None if end is None else end - start
    while left is None or left > 0:
        block = spool.read(1 << 20 if left is None else min(1 << 20, left))
        if not block:
            return
        if left is not None:
            left -= len(block)
        yield block


class _Batch:
    """The state of one batch load (one transaction)."""

    def __init__(self, source: Source, night: date, settings: Settings, run_id: str):
        self.source, self.night, self.settings, self.run_id = source, night, settings, run_id
        self.landing = landing_for(settings.landing_dir)
        self.ctx = make_context(settings, night)
        self.registry = load_lao_codes(settings.reference_dir)
        self.load_id = 0
        self.known: dict[str, ledger.KnownFile] = {}
        self.audit: list[ledger.FileRecord] = []
        # every changed file's COPY text, whatever the number of files: memory stays flat
        self.raw_out, self.q_out = _spool(), _spool()
        self.touched: dict[str, str] = {}  # same bytes, new stat signature
        # personal numbers in quarantined lines and reasons become tokens (pseudonyms.py)
        secret = settings.erasure_secret
        self.mask = lambda text: mask_ids(text, secret)

    def same_content(self, unit: _Unit, known: dict[str, ledger.KnownFile]) -> bool:
        """Touched or copied but byte-identical files need no reload."""
        if not all(_same_role(e, known) and e.read and known[e.name].sha256 for e in unit.entries):
            return False
        sigs = {}
        for e in unit.entries:
            try:
                with self.landing.open(self.source.name, self.night, e) as fh:
                    if _sha256(fh) != known[e.name].sha256:
                        return False
            except OSError:
                return False
            sigs[e.name] = e.signature
        self.touched.update(sigs)
        return True

    # reading -------------------------------------------------------------------------
    def close(self) -> None:
        self.raw_out.close()
        self.q_out.close()
        self.landing.close()

    def read_unit(self, unit: _Unit) -> None:
        self.raw_out.seek(0, 2)
        self.q_out.seek(0, 2)
        raw_start, q_start = self.raw_out.tell(), self.q_out.tell()
        self._read_entries(unit)
        unit.raw_span = (raw_start, self.raw_out.tell())
        unit.q_span = (q_start, self.q_out.tell())

    def _read_entries(self, unit: _Unit) -> None:
        for entry in unit.entries:
            started = datetime.now(UTC)
            t0 = time.monotonic()
            rec = ledger.FileRecord(
                entry.name,
                entry.lao_code,
                entry_kind=entry.kind,
                size_bytes=entry.size,
                stat_signature=entry.signature,
                started_at=started,
            )
            too_big = self._reject_all(entry)
            if too_big and too_big[0] == "file_too_large":
                entry.read, entry.reject = False, too_big
            if entry.read:
                self._read_entry(unit, entry, rec)
            else:
                self._refuse_entry(unit, entry, rec)
            rec.duration_ms = int((time.monotonic() - t0) * 1000)
            unit.records.append(rec)

    def _refuse_entry(self, unit: _Unit, entry: Entry, rec: ledger.FileRecord) -> None:
        code, detail, status = entry.reject or ("unreadable_file", "not read", "rejected")
        rec.status, rec.reason_code, rec.error = status, code, detail
        rec.rows_in = rec.rows_quarantined = 1
        self._one_row(unit, entry, rec.sha256, code, detail)

    def _one_row(self, unit: _Unit, entry: Entry, sha: str | None, code: str, detail: str) -> None:
        """The quarantine row that stands for an entry with no record to show."""
        self.q_out.write(
            quarantine_copy_text(
                self._q_prefix(entry.name, entry.lao_code, sha),
                [Rejection(None, None, code, detail, None)],
                self.mask,
            ).encode()
        )

    def _reject_all(self, entry: Entry) -> tuple[str, str, str] | None:
        return refusal(entry, self.registry, self.ctx.bounds(self.source.name).max_file_bytes)

    def _read_entry(self, unit: _Unit, entry: Entry, rec: ledger.FileRecord) -> None:
        # the file's own spools: appended to the batch's only once it is read through
        raw, quarantine = _spool(FILE_SPOOL_BYTES), _spool(FILE_SPOOL_BYTES)
        try:
            with self.landing.open(self.source.name, self.night, entry, SMALL_FILE_BYTES) as fh:
                rec.sha256 = _hashed(fh)
                reader = read_extract(fh, self.source, self.ctx, self._reject_all(entry))
                self._consume(reader, entry, rec, raw, quarantine)
                self.landing.check_unchanged(fh)  # the checksum is of the bytes loaded
        except OSError as exc:  # PermissionError included: replaced by a link, vanished
            raw.close()
            quarantine.close()
            self._unreadable(unit, entry, rec, exc)
            return
        except Exception as exc:  # a bug must not stop the night: the file is rejected
            log.exception("reading %s failed", entry.name)
            raw.close()
            quarantine.close()
            self._unreadable(unit, entry, rec, exc, code="unreadable_file")
            return
        for spool, out in ((raw, self.raw_out), (quarantine, self.q_out)):
            for block in _blocks(spool):
                out.write(block)
            spool.close()
        unit.rows_after += rec.rows_loaded

    def _consume(self, reader, entry: Entry, rec, raw, quarantine) -> None:
        prefix = self._lineage(entry, rec.sha256)
        q_prefix = self._q_prefix(entry.name, entry.lao_code, rec.sha256)
        with_amounts = "amount" in self.source.db_columns
        for item in reader:
            if isinstance(item, list):
                quarantine.write(quarantine_copy_text(q_prefix, item, self.mask).encode())
            else:
                raw.write(
                    accepted_copy_text(item, self.source, prefix, self.ctx.key_version).encode()
                )
                if with_amounts:  # the ledger keeps each file's baht (the gate's history)
                    rec.amount_loaded = sum(item.columns["amount"], rec.amount_loaded or 0)
        v = reader.verdict
        rec.status, rec.reason_code, rec.error = v.status, v.code, v.detail
        rec.encoding = v.encoding
        rec.rows_in, rec.rows_loaded, rec.rows_quarantined = (
            v.rows_in,
            v.rows_accepted,
            v.rows_rejected,
        )
        rec.extra_columns = v.extra_columns or None

    def _unreadable(self, unit, entry, rec, exc, code: str | None = None) -> None:
        code = code or (
            "not_regular_file" if isinstance(exc, PermissionError) else "unreadable_file"
        )
        detail = f"{entry.name} could not be read: {exc}"[:500]
        rec.status, rec.reason_code, rec.error = "rejected", code, detail
        # no checksum: bytes that were not loaded must not let the next load take the
        # same bytes for a file already read (same_content) and skip it
        rec.sha256 = None
        rec.rows_in = rec.rows_quarantined = 1
        rec.rows_loaded, rec.amount_loaded = 0, None
        self._one_row(unit, entry, rec.sha256, code, detail)

    def _lineage(self, entry: Entry, sha: str | None) -> tuple:
        return (self.load_id, entry.lao_code, self.night, entry.name, sha)

    def _q_prefix(self, name: str, lao: str | None, sha: str | None) -> tuple:
        return (self.load_id, self.source.name, self.night, name, lao, sha)


def _sha256(fh) -> str:
    if isinstance(fh, io.BytesIO):  # a small file, read whole by the landing: no copy
        return hashlib.sha256(fh.getvalue()).hexdigest()
    if hasattr(fh, "readinto"):  # one reused buffer
        return hashlib.file_digest(fh, "sha256").hexdigest()
    h = hashlib.sha256()  # a file object without readinto (some fsspec files)
    while chunk := fh.read(1 << 16):
        h.update(chunk)
    return h.hexdigest()


def _hashed(fh) -> str:
    """The SHA-256 of an opened file, which is then rewound for the reader. A small file
    (nearly all) comes read whole from the landing (``SMALL_FILE_BYTES``), so hashing, the
    reader's pre-scans and its passes cost no further reads; a big one is read twice."""
    sha = _sha256(fh)
    fh.seek(0)
    return sha


def _units(scan: NightScan, keys: set[str]) -> list[_Unit]:
    units: dict[str, _Unit] = {}
    for e in scan.entries:
        k = unit_key(e)
        if k in keys:
            units.setdefault(k, _Unit(k, [], e.lao_code)).entries.append(e)
    return [units[k] for k in sorted(units)]


def _same_role(e: Entry, known: dict[str, ledger.KnownFile]) -> bool:
    k = known.get(e.name)
    superseded = bool(e.reject and e.reject[2] == "superseded")
    return k is not None and (k.status == "superseded") == superseded and k.entry_kind == e.kind


def _unchanged(unit: _Unit, known: dict[str, ledger.KnownFile]) -> bool:
    """Every present entry of the unit is recorded with the same role and stat."""
    return all(
        _same_role(e, known)
        and e.signature is not None
        and known[e.name].stat_signature == e.signature
        for e in unit.entries
    )


def load_batch(
    source_name: str,
    night: date,
    unit_keys: list[str],
    run_id: str = "cli",
    settings: Settings | None = None,
    scan: NightScan | None = None,
) -> dict:
    """Load a batch of LAO-nights of one source in one transaction. ``scan``: the night's
    scan the batch was planned from (``batch_scan``), passed along by a runner that
    planned in the same run; without it (an Airflow task) the night folder is listed."""
    settings = settings or get_settings()
    batch = _Batch(SOURCES[source_name], night, settings, run_id)
    if scan is None:
        scan = batch.landing.scan(source_name, night)
    units = _units(scan, set(unit_keys))
    t0 = time.monotonic()
    try:
        totals = _load_units(batch, units, isolate=False)
    except (
        psycopg.errors.DataError,
        psycopg.errors.IntegrityError,
        psycopg.errors.ProgramLimitExceeded,
    ) as exc:
        log.error("the warehouse refused a row (%s): retrying one LAO-night at a time", exc)
        batch.close()
        batch = _Batch(SOURCES[source_name], night, settings, run_id)
        totals = _load_units(batch, _units(scan, set(unit_keys)), isolate=True)
    finally:
        batch.close()  # its spools and the folders its landing holds, whatever happened
    secs = time.monotonic() - t0
    totals["seconds"] = round(secs, 3)
    totals["rows_per_second"] = round(totals["rows_in"] / secs) if secs else None
    log.info("%s %s batch load %d: %s", source_name, night, batch.load_id, totals)
    _log_problems(source_name, night, batch.audit)
    return totals


def _load_units(batch: _Batch, units: list[_Unit], isolate: bool) -> dict:
    source, night = batch.source, batch.night
    with connect(batch.settings, role="loader") as conn, conn.transaction():
        ledger.maintenance_shared(conn)  # an erasure or a key rotation waits for loads
        batch.ctx.erased = ledger.erased_tokens(conn)
        batch.load_id = ledger.new_load_id(conn)
        ledger.lock_units(conn, source.name, night, [unit_group(u.key) for u in units])
        # the ledger's rows of the night, read under the units' locks: no other load
        # changes those of this batch's LAOs before it commits (``_replace`` uses them too)
        known = batch.known = ledger.known_files(conn, source.name, night)
        changed: list[_Unit] = []
        for i, unit in enumerate(units, 1):
            if _unchanged(unit, known) or batch.same_content(unit, known):
                batch.audit.extend(_unchanged_records(unit, known))
                continue
            batch.read_unit(unit)
            changed.append(unit)
            if i % PROGRESS_EVERY == 0:
                log.info("%s %s: %d/%d LAO-nights read", source.name, night, i, len(units))
        _write_units(conn, batch, changed, isolate)
        ledger.touch_signatures(conn, source.name, night, batch.touched)
        ledger.audit_file_loads(conn, batch.run_id, source.name, night, batch.load_id, batch.audit)
        # the batch's change counts reach the server's statistics at its commit, not up to
        # a second later or when the connection ends: the ANALYZE after its source's last
        # batch then leaves the count at zero, and the build need not sample again
        conn.execute("select pg_stat_force_next_flush()")
    return _totals(batch)


def _unchanged_records(unit: _Unit, known) -> list[ledger.FileRecord]:
    return [
        ledger.FileRecord(
            e.name,
            e.lao_code,
            entry_kind=e.kind,
            sha256=known[e.name].sha256,
            size_bytes=e.size,
            status="unchanged",
            started_at=datetime.now(UTC),
        )
        for e in unit.entries
    ]


def _write_units(conn, batch: _Batch, units: list[_Unit], isolate: bool) -> None:
    """Rows to raw, retractions, the ledger: for all units at once, or unit by unit."""
    if not isolate:
        _copy_raw(conn, batch, units, whole=True)
        _replace(conn, batch, units)
        return
    for unit in units:
        try:
            with conn.transaction():
                _copy_raw(conn, batch, [unit])
                _replace(conn, batch, [unit])
        except (
            psycopg.errors.DataError,
            psycopg.errors.IntegrityError,
            psycopg.errors.ProgramLimitExceeded,
        ) as exc:
            log.error("the warehouse refused a row of %s: %s", unit.key, exc)
            _refuse_unit(batch, unit, f"the warehouse refused a row: {exc}".splitlines()[0][:300])
            _replace(conn, batch, [unit])


def _refuse_unit(batch: _Batch, unit: _Unit, detail: str) -> None:
    unit.records, unit.rows_after = [], 0  # its spans are left unread; new ones follow
    for e in unit.entries:
        if e.read:
            e.reject = ("database_refused", detail, "rejected")
    batch.read_unit(unit)


def _copy_raw(conn, batch: _Batch, units: list[_Unit], whole: bool = False) -> None:
    cols = (*LINEAGE_COLUMNS, "key_version", *batch.source.db_columns, "extra")
    with conn.cursor().copy(
        f"copy raw.{batch.source.table} ({', '.join(cols)}) from stdin"
    ) as copy:
        spans = [None] if whole else [u.raw_span for u in units]
        for span in spans:
            for block in _blocks(batch.raw_out, span):
                copy.write(block)


def _replace(conn, batch: _Batch, units: list[_Unit]) -> None:
    """The new files replace their LAO-nights: old rows retracted, ledger rewritten."""
    source, night, table = batch.source, batch.night, batch.source.table
    laos = [u.lao_code for u in units if u.lao_code]
    before = dict(
        conn.execute(
            f"select lao_code, count(*) from raw.{table} where extract_date=%s"
            " and lao_code = any(%s) and load_id <> %s group by 1",
            (night, laos, batch.load_id),
        ).fetchall()
    )
    counts = {
        u.lao_code: (before.get(u.lao_code, 0), u.rows_after)
        for u in units
        if u.lao_code and (before.get(u.lao_code, 0) or u.rows_after)
    }
    ids = ledger.allocate_changes(conn, source.name, night, batch.load_id, counts)
    if ids:
        cols = ", ".join(
            (*LINEAGE_COLUMNS, "key_version", *source.db_columns, "extra", "loaded_at")
        )
        conn.execute(
            f"with gone as (delete from raw.{table} r using unnest(%s::text[], %s::bigint[])"
            " as c(lao_code, change_id) where r.extract_date = %s and r.lao_code = c.lao_code"
            f" and r.load_id <> %s returning r.*, c.change_id)"
            f" insert into raw.{table}_retracted ({cols}, retracted_change_id)"
            f" select {cols}, change_id from gone",
            (list(ids), list(ids.values()), night, batch.load_id),
        )
    names = [r.file_name for u in units for r in u.records]
    present = {e.name for u in units for e in u.entries}
    replaced = set(laos)
    gone = [n for n, k in batch.known.items() if k.lao_code in replaced and n not in present]
    ledger.forget_files(conn, source.name, night, gone)
    ledger.write_files(
        conn, source.name, night, batch.load_id, (r for u in units for r in u.records)
    )
    ledger.replace_quarantine(
        conn, source.name, night, names, (b for u in units for b in _blocks(batch.q_out, u.q_span))
    )
    for u in units:
        batch.audit.extend(u.records)


def _totals(batch: _Batch) -> dict:
    recs = batch.audit
    return {
        "load_id": batch.load_id,
        "files": len(recs),
        "unchanged": sum(r.status == "unchanged" for r in recs),
        "rejected": sum(r.status in ("rejected", "superseded") for r in recs),
        "rows_in": sum(r.rows_in for r in recs),
        "rows_loaded": sum(r.rows_loaded for r in recs),
        "rows_quarantined": sum(r.rows_quarantined for r in recs),
    }


def _log_problems(source: str, night: date, records) -> None:
    for r in records:
        if r.extra_columns:
            log.warning(
                "schema drift in %s/%s/%s: unknown column(s) %s",
                source,
                night,
                r.file_name,
                r.extra_columns,
            )
        if r.status in ("rejected", "superseded"):
            log.warning("%s %s/%s/%s: %s", r.status, source, night, r.file_name, r.error)


# -- closing a night --------------------------------------------------------------------------


def close_night(
    source_name: str,
    night: date,
    settings: Settings | None = None,
    scan: NightScan | None = None,
) -> dict:
    """Totals over the night's current entries; fail loudly if rows went missing.

    Conservation is checked twice: per file (rows in = loaded + quarantined) and
    against what the tables really hold. Landing issues are recorded here too, from
    ``scan``: the scan the night's batches were loaded from, passed along by a runner that
    planned them; without it (an Airflow task, a catch-up) the night folder is listed.
    """
    settings = settings or get_settings()
    source = SOURCES[source_name]
    if scan is None:
        scan = scan_night(source_name, night, settings)
    with connect(settings, role="loader") as conn, conn.transaction():
        ledger.record_landing_issues(conn, scan.scopes, scan.issues)
        summary = ledger.close_night(
            conn, source.name, source.table, night, load_lao_codes(settings.reference_dir)
        )
    summary["landing_issues"] = len(scan.issues)
    summary["uploads_in_progress"] = len(scan.uploads_in_progress)
    # LAOs that sent anything at all for this night (a rejected file counts)
    summary["laos_sending"] = len({e.lao_code for e in scan.entries if e.lao_code})
    if not summary["conservation_ok"]:
        raise ConservationError(
            f"{source.name} {night}: rows in ({summary['rows_in']}) != loaded"
            f" ({summary['rows_loaded']}, {summary['in_raw']} in raw) + quarantined"
            f" ({summary['rows_quarantined']}, {summary['in_quarantine']} in quarantine);"
            f" {summary['unbalanced_files']} file(s) unbalanced"
        )
    return summary


@dataclass
class NightPlan:
    """A source-night's batches of unit keys, and the scan they were planned from."""

    source: str
    night: date
    batches: list[list[str]]
    scan: NightScan | None = None  # None: each batch lists the night folder itself


def plan_from_scan(source: str, night: date, batches: int, settings: Settings) -> NightPlan:
    scan = scan_night(source, night, settings)
    return NightPlan(source, night, plan_batches(scan, batches), scan)


class _Loads:
    """The state of ``load_source_nights``: what each source-night still waits for, its outcome."""

    def __init__(self, jobs, plan, settings: Settings, close: bool):
        self.plan, self.settings, self.close = plan, settings, close
        self.out: dict[tuple[str, date], BaseException | dict | None] = {j: None for j in jobs}
        self.jobs = iter(self.out)
        self.open: dict[tuple[str, date], list] = {}  # job -> [batches left, its scan]
        self.nights_left = Counter(source for source, _ in self.out)  # per source
        self.loaded: set[str] = set()  # sources with a batch run (ANALYZE them when done)

    def items(self):
        """(job, unit keys, the batch's part of the scan) for each batch, planning each
        source-night only when its first batch is due (a backfill never holds every
        night's scan at once); (job, None, None) for a source-night with no batch."""
        for job in self.jobs:
            try:
                plan = self.plan(*job)
            except Exception as exc:  # that source-night's problem; the others go on
                self.out[job] = exc
                yield job, None, None
                continue
            self.open[job] = [len(plan.batches), plan.scan]
            if not plan.batches:
                yield job, None, None
            for keys in plan.batches:
                scan = None if plan.scan is None else batch_scan(plan.scan, keys)
                yield job, keys, scan

    def batch_done(self, job, exc: BaseException | None) -> bool:
        """A batch's outcome; whether its source-night has no batch left."""
        if exc is not None and self.out[job] is None:
            self.out[job] = exc
        self.loaded.add(job[0])
        self.open[job][0] -= 1
        return not self.open[job][0]

    def fail_rest(self, exc: BaseException) -> None:
        """Every source-night not planned yet fails with ``exc``, unplanned (the pool is
        broken: planning them would only list their folders)."""
        for job in self.jobs:
            self.out[job] = exc

    def night_done(self, job) -> tuple[NightScan | None, bool, str | None]:
        """(its scan, whether to close it, the source to ANALYZE now or None)."""
        scan = self.open.pop(job, [0, None])[1]
        self.nights_left[job[0]] -= 1
        analyse = job[0] if not self.nights_left[job[0]] and job[0] in self.loaded else None
        return scan, self.close and self.out[job] is None, analyse


def load_source_nights(
    jobs: list[tuple[str, date]],
    plan,
    run_id: str,
    settings: Settings | None = None,
    workers: int = 0,
    close: bool = False,
) -> dict[tuple[str, date], BaseException | dict | None]:
    """Every batch of each (source, night) in ``jobs``, spread over the machine's cores: one
    process per core (LOAD_WORKERS, default the core count), like Airflow's mapped load
    tasks. ``plan(source, night)`` gives its ``NightPlan``, when its first batch is due;
    each batch takes its part of the plan's scan instead of listing the folder again.
    Batches are independent transactions. ``close``: a source-night whose batches all
    loaded is closed (``close_night``, from its plan's scan) as soon as they are done,
    beside the other nights' batches. A source's raw table is analysed once its last
    source-night is done. Returns each (source, night)'s first error, else its close
    summary (``close``), else None."""
    settings = settings or get_settings()
    workers = workers or settings.load_workers or os.cpu_count() or 1
    if workers > 1 and len(jobs) == 1:  # one source-night: no more workers than batches
        first = _planned(plan, *jobs[0])
        workers = 1 if isinstance(first, BaseException) else min(workers, len(first.batches))
        plan = partial(_replay, first)
    workers = max(1, min(workers, len(jobs) * max(1, settings.ingest_batches)))
    loads = _Loads(jobs, plan, settings, close)
    if workers == 1:
        _load_here(loads, run_id)
    else:
        _load_in_pool(loads, run_id, workers)
    return loads.out


def _planned(plan, source: str, night: date) -> NightPlan | BaseException:
    try:
        return plan(source, night)
    except Exception as exc:  # noqa: BLE001 - reported as that source-night's outcome
        return exc


def _replay(first: NightPlan | BaseException, source: str, night: date) -> NightPlan:
    """The plan made already (or its error, raised again)."""
    if isinstance(first, BaseException):
        raise first
    return first


def _load_here(loads: _Loads, run_id: str) -> None:
    settings = loads.settings
    for job, keys, scan in loads.items():
        if keys is not None:
            exc = None
            try:
                load_batch(*job, keys, run_id, settings, scan)
            except Exception as e:
                exc = e
            if not loads.batch_done(job, exc):
                continue
        scan, to_close, analyse = loads.night_done(job)
        if to_close:
            try:
                loads.out[job] = close_night(*job, settings, scan)
            except Exception as e:  # that source-night's outcome; the others go on
                loads.out[job] = e
        if analyse:
            _analyze_loaded_table(analyse, settings)


def _load_in_pool(loads: _Loads, run_id: str, workers: int) -> None:
    settings = loads.settings
    items, running = loads.items(), {}
    with (
        forked_pool(workers) as pool,
        ThreadPoolExecutor(1, thread_name_prefix="analyze") as analysing,
    ):

        def submit(fn, *args) -> Future:
            """``pool.submit``, or a future holding the error when the pool takes no more
            work (a worker died: the pool is broken); each source-night then reports it."""
            try:
                return pool.submit(fn, *args)
            except Exception as exc:  # noqa: BLE001 - BrokenProcessPool, or shutting down
                loads.fail_rest(exc)
                failed: Future = Future()
                failed.set_exception(exc)
                return failed

        def night_done(job) -> None:
            scan, to_close, analyse = loads.night_done(job)
            if to_close:  # ahead of the batches handed out after it
                running[submit(close_night, *job, settings, scan)] = ("close", job)
            if analyse:  # its statistics while the other sources' batches load
                analysing.submit(_analyze_loaded_table, analyse, settings)

        def hand_out() -> None:
            """The next batch to the pool (batches go out as workers free up, so a close
            queues behind few of them and only the nights in flight hold their scans)."""
            for job, keys, scan in items:
                if keys is None:
                    night_done(job)
                    continue
                running[submit(load_batch, *job, keys, run_id, settings, scan)] = ("load", job)
                return

        for _ in range(2 * workers):
            hand_out()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                what, job = running.pop(future)
                if what == "close":
                    loads.out[job] = future.exception() or future.result()
                    continue
                if loads.batch_done(job, future.exception()):
                    night_done(job)
                hand_out()


def _analyze_loaded_table(source_name: str, settings: Settings) -> None:
    """ANALYZE a source's raw table once its batches are done (``db.analyze``): the build
    that follows in this process need not (``transform.analyze_loaded``). A failure only
    loses that head start: the load stands, the build analyses the table."""
    from .db import analyze

    table = f"raw.{SOURCES[source_name].table}"
    try:
        analyze(settings, [table], after_load=True)
    except Exception as exc:  # noqa: BLE001 - never fail a committed load on statistics
        log.warning("ANALYZE %s failed (%s): the build analyses it", table, exc)


def load_night(
    source_name: str,
    night: date,
    batches: int = 4,
    run_id: str = "cli",
    settings: Settings | None = None,
) -> dict:
    """Everything for one source and night, without Airflow (tests, CLI, benchmarks): its
    batches load in parallel, then the night is closed (``load_source_nights``)."""
    settings = settings or get_settings()
    migrate(settings)
    job = (source_name, night)
    outcome = load_source_nights(
        [job], lambda s, n: plan_from_scan(s, n, batches, settings), run_id, settings, close=True
    )[job]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def forget_night(
    source_name: str, night: date, settings: Settings | None = None, lao: str | None = None
) -> None:
    """Make the next run reload a night's files (or one LAO's): the ledger forgets them.
    Without ``lao`` the night's rows go too; with it the LAO's file is re-read and replaces
    its rows like a re-send."""
    source = SOURCES[source_name]
    with connect(settings, role="loader") as conn, conn.transaction():
        if lao:
            ledger.forget_lao(conn, source.name, night, lao)
        else:
            ledger.forget_night(conn, source.name, source.table, night)


def catch_up(
    source_name: str,
    night: date,
    days: int,
    run_id: str = "catch-up",
    settings: Settings | None = None,
) -> list[str]:
    """Files that arrived after the cutoff of the ``days`` nights before ``night``: loaded
    now (unchanged files cost a stat). Returns the nights that changed."""
    from datetime import timedelta

    settings = settings or get_settings()
    changed = []
    for back in range(days, 0, -1):
        earlier = night - timedelta(days=back)
        scan = scan_night(source_name, earlier, settings)
        if not scan.entries:
            continue
        totals = [
            load_batch(source_name, earlier, keys, run_id, settings, batch_scan(scan, keys))
            for keys in plan_batches(scan, 1)
        ]
        if any(t["files"] - t["unchanged"] for t in totals):
            close_night(source_name, earlier, settings)
            changed.append(earlier.isoformat())
    return changed
