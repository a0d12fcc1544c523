"""Loading one night of one source: discover files, COPY good rows, quarantine the rest.

Work is done in *batches* of files (grouped by province) so a national night is a
handful of Airflow task instances, not 7,849. A batch is one transaction: rows of
every file stream through a single COPY into the raw table, the LAO's earlier rows
for that night are deleted, quarantine and audit rows are written, and the
current-file registry is updated. A crash anywhere rolls the whole batch back;
the next run loads it again. Unchanged files (same SHA-256) are skipped, so a
rerun costs a checksum per file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import fsspec

from .config import Settings, get_settings
from .contract import (
    LINEAGE_COLUMNS,
    SOURCES,
    Context,
    RowError,
    Source,
    load_account_codes,
    load_lao_codes,
)
from .db import connect, migrate
from .reader import FileReject, open_records, printable

log = logging.getLogger(__name__)

LAO_FILE = re.compile(r"^(\d{7})\.csv$", re.IGNORECASE)
DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PROGRESS_EVERY = 500  # files


class ConservationError(RuntimeError):
    pass


# -- discovery --------------------------------------------------------------------


def _fs(settings: Settings):
    fs, root = fsspec.core.url_to_fs(str(settings.landing_dir))
    return fs, root.rstrip("/")


def discover(source: str, night: date, settings: Settings | None = None) -> list[str]:
    """Names (relative to ``<landing>/<source>/<date>/``) of the files to consider.

    ``*.part`` uploads are ignored. Anything else that is not ``<lao_code>.csv`` is
    returned too: the loader rejects it as a layout violation.
    """
    settings = settings or get_settings()
    fs, root = _fs(settings)
    base = f"{root}/{source}/{night.isoformat()}"
    if not fs.isdir(base):
        return []
    names = []
    for path in fs.find(base):
        rel = path[len(base) + 1 :]
        if rel.endswith(".part") or rel.rsplit("/", 1)[-1].startswith("."):
            continue
        names.append(rel)
    return sorted(names)


def plan_batches(names: list[str], batches: int) -> list[list[str]]:
    """Group files by province (digits 2-3 of the LAO code), balanced into N batches."""
    by_province: dict[str, list[str]] = {}
    for n in names:
        m = LAO_FILE.match(n)
        key = m[1][1:3] if m else "??"
        by_province.setdefault(key, []).append(n)
    bins: list[list[str]] = [[] for _ in range(max(1, min(batches, len(by_province))))]
    for _key, files in sorted(by_province.items(), key=lambda kv: -len(kv[1])):
        min(bins, key=len).extend(files)
    return [sorted(b) for b in bins if b]


# -- loading ------------------------------------------------------------------------


@dataclass
class FileResult:
    file_name: str
    lao_code: str | None
    sha256: str | None = None
    size_bytes: int | None = None
    encoding: str | None = None
    status: str = "loaded"
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    extra_columns: list[str] = field(default_factory=list)
    error: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    duration_ms: int = 0


@dataclass
class BatchResult:
    load_id: int
    files: list[FileResult]

    def totals(self) -> dict:
        return {
            "load_id": self.load_id,
            "files": len(self.files),
            "unchanged": sum(f.status == "unchanged" for f in self.files),
            "rejected": sum(f.status == "rejected" for f in self.files),
            "rows_in": sum(f.rows_in for f in self.files),
            "rows_loaded": sum(f.rows_loaded for f in self.files),
            "rows_quarantined": sum(f.rows_quarantined for f in self.files),
        }


def _sha256(fs, path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with fs.open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


class _Quarantine:
    def __init__(self, source: str, night: date, load_id: int):
        self.rows: list[tuple] = []
        self.source, self.night, self.load_id = source, night, load_id

    def add(self, res: FileResult, row_no, field_, reason, raw):
        self.rows.append(
            (
                self.load_id,
                self.source,
                self.night,
                res.file_name,
                res.lao_code,
                res.sha256,
                row_no,
                field_,
                reason,
                printable(raw),
            )
        )
        res.rows_quarantined += 1


def _load_file(
    fs,
    path: str,
    res: FileResult,
    source: Source,
    ctx: Context,
    known_laos: frozenset[str],
    load_id: int,
    write_row,
    q: _Quarantine,
) -> None:
    """Parse one file: good rows to ``write_row``, bad ones to quarantine."""
    reject_all: tuple[str | None, str] | None = None
    if res.lao_code is None:
        reject_all = (
            None,
            f"path does not follow the layout <source>/<YYYY-MM-DD>/"
            f"<lao_code>.csv: {source.name}/{ctx.extract_date}/{res.file_name}",
        )
    elif res.lao_code not in known_laos:
        reject_all = (None, f"unknown LAO code {res.lao_code} in the path")
    with fs.open(path, "rb") as fh:
        try:
            layout, records = open_records(fh, source)
        except FileReject as exc:
            # nothing readable as records: one quarantine row stands for the file
            res.status, res.error = "rejected", exc.reason
            res.rows_in = 1
            fh.seek(0)
            head = fh.read(300)
            q.add(
                res,
                None,
                exc.field,
                exc.reason if not reject_all else reject_all[1],
                head.decode("utf-8", errors="surrogateescape"),
            )
            return
        res.encoding = layout.encoding
        res.extra_columns = [name for name, _ in layout.extras]
        if layout.missing and not reject_all:
            reject_all = (
                layout.missing[0],
                f"missing required column(s): {', '.join(layout.missing)}",
            )
        if reject_all:
            res.status, res.error = "rejected", reject_all[1]
            for rec in records:
                res.rows_in += 1
                q.add(res, rec.line_no, reject_all[0], reject_all[1], rec.raw)
            return

        pos = layout.positions
        extras = layout.extras
        seen: dict[int, int] = {}
        seen_key: dict[int, int] = {}
        key_cols = source.business_key[0] if source.business_key else None
        lineage = (load_id, res.lao_code, ctx.extract_date, res.file_name, res.sha256)
        for rec in records:
            res.rows_in += 1
            if rec.problem:
                q.add(res, rec.line_no, None, rec.problem, rec.raw)
                continue
            cells = rec.cells

            def get(name, _c=cells):
                i = pos.get(name)
                return _c[i] if i is not None else ""

            # a 64-bit hash per row, not the row: ~100 bytes a row whatever the row's width
            dup_key = hash(tuple(c.strip() for c in cells))
            if dup_key in seen:
                q.add(
                    res, rec.line_no, None, f"duplicate row (same as line {seen[dup_key]})", rec.raw
                )
                continue
            seen[dup_key] = rec.line_no
            try:
                values = source.convert(get, ctx)
            except RowError as exc:
                q.add(res, rec.line_no, exc.field, exc.reason, rec.raw)
                continue
            if key_cols:
                bkey = hash(tuple(get(c).strip() for c in key_cols))
                if bkey in seen_key:
                    q.add(
                        res,
                        rec.line_no,
                        key_cols[0],
                        f"duplicate {source.business_key[1]} (same as line {seen_key[bkey]})",
                        rec.raw,
                    )
                    continue
                seen_key[bkey] = rec.line_no
            extra = (
                json.dumps({n: cells[i] for n, i in extras}, ensure_ascii=False) if extras else None
            )
            write_row((*lineage, rec.line_no, *values, extra))
            res.rows_loaded += 1


def load_batch(
    source_name: str,
    night: date,
    names: Iterable[str],
    run_id: str = "cli",
    settings: Settings | None = None,
) -> dict:
    """Load a batch of files of one source and night in one transaction."""
    settings = settings or get_settings()
    source = SOURCES[source_name]
    names = sorted(names)
    fs, root = _fs(settings)
    base = f"{root}/{source.name}/{night.isoformat()}"
    ctx = Context(
        extract_date=night,
        pseudonym_key=settings.pseudonym_key.encode(),
        account_codes=load_account_codes(settings.dbt_dir / "seeds"),
    )
    known = load_lao_codes(settings.reference_dir)
    cols = (*LINEAGE_COLUMNS, *source.db_columns, "extra")
    copy_sql = f"copy raw.{source.table} ({', '.join(cols)}) from stdin"
    t0 = time.monotonic()
    with connect(settings) as conn, conn.transaction():
        cur = conn.cursor()
        load_id = cur.execute("select nextval('ops.load_id_seq')").fetchone()[0]
        # one lock per file name: two runs of the same night never interleave on a file
        cur.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s || '/' || %s || '/' || n, 0))"
            " from unnest(%s::text[]) as n order by n",
            (source.name, night.isoformat(), names),
        )
        current = dict(
            cur.execute(
                "select file_name, sha256 from ops.files where source=%s and extract_date=%s"
                " and file_name = any(%s)",
                (source.name, night, names),
            ).fetchall()
        )
        q = _Quarantine(source.name, night, load_id)
        results: list[FileResult] = []
        rows = 0
        with cur.copy(copy_sql) as copy:
            for i, name in enumerate(names, 1):
                m = LAO_FILE.match(name)
                res = FileResult(name, m[1] if m else None)
                t_file = time.monotonic()
                path = f"{base}/{name}"
                try:
                    res.sha256, res.size_bytes = _sha256(fs, path)
                except FileNotFoundError:
                    continue  # renamed or removed since discovery
                if current.get(name) == res.sha256:
                    res.status = "unchanged"
                else:
                    _load_file(fs, path, res, source, ctx, known, load_id, copy.write_row, q)
                res.duration_ms = int((time.monotonic() - t_file) * 1000)
                results.append(res)
                rows += res.rows_in
                if i % PROGRESS_EVERY == 0:
                    log.info(
                        "%s %s: %d/%d files, %d rows read", source.name, night, i, len(names), rows
                    )
        changed = [r for r in results if r.status != "unchanged"]
        changed_names = [r.file_name for r in changed]
        changed_laos = [r.lao_code for r in changed if r.lao_code]
        # the newer file replaces the LAO's rows for the night completely
        cur.execute(
            f"delete from raw.{source.table} where extract_date=%s and lao_code = any(%s)"
            " and load_id <> %s",
            (night, changed_laos, load_id),
        )
        cur.execute(
            "delete from ops.quarantine where source=%s and extract_date=%s"
            " and file_name = any(%s)",
            (source.name, night, changed_names),
        )
        with cur.copy(
            "copy ops.quarantine (load_id, source, extract_date, file_name, lao_code,"
            " file_sha256, row_no, field, reason, raw_line) from stdin"
        ) as copy:
            for row in q.rows:
                copy.write_row(row)
        cur.executemany(
            "insert into ops.files (source, extract_date, file_name, lao_code, sha256, load_id,"
            " status, encoding, rows_in, rows_loaded, rows_quarantined, extra_columns, error)"
            " values (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
            " on conflict (source, extract_date, file_name) do update set"
            " lao_code=excluded.lao_code, sha256=excluded.sha256, load_id=excluded.load_id,"
            " status=excluded.status, encoding=excluded.encoding, rows_in=excluded.rows_in,"
            " rows_loaded=excluded.rows_loaded, rows_quarantined=excluded.rows_quarantined,"
            " extra_columns=excluded.extra_columns, error=excluded.error, loaded_at=now()",
            [
                (
                    source.name,
                    night,
                    r.file_name,
                    r.lao_code,
                    r.sha256,
                    load_id,
                    r.status,
                    r.encoding,
                    r.rows_in,
                    r.rows_loaded,
                    r.rows_quarantined,
                    r.extra_columns or None,
                    r.error,
                )
                for r in changed
            ],
        )
        with cur.copy(
            "copy ops.file_loads (run_id, load_id, source, extract_date, file_name,"
            " lao_code, sha256, size_bytes, encoding, status, rows_in, rows_loaded,"
            " rows_quarantined, extra_columns, error, started_at, duration_ms)"
            " from stdin"
        ) as copy:
            for r in results:
                copy.write_row(
                    (
                        run_id,
                        load_id,
                        source.name,
                        night,
                        r.file_name,
                        r.lao_code,
                        r.sha256,
                        r.size_bytes,
                        r.encoding,
                        r.status,
                        r.rows_in,
                        r.rows_loaded,
                        r.rows_quarantined,
                        r.extra_columns or None,
                        r.error,
                        r.started_at,
                        r.duration_ms,
                    )
                )
    batch = BatchResult(load_id, results)
    totals = batch.totals()
    secs = time.monotonic() - t0
    totals["seconds"] = round(secs, 3)
    totals["rows_per_second"] = round(totals["rows_in"] / secs) if secs else None
    log.info("%s %s batch load %d: %s", source.name, night, load_id, totals)
    for r in results:
        if r.extra_columns:
            log.warning(
                "schema drift in %s/%s/%s: unknown column(s) %s kept in raw.extra",
                source.name,
                night,
                r.file_name,
                r.extra_columns,
            )
        if r.status == "rejected":
            log.warning("rejected %s/%s/%s: %s", source.name, night, r.file_name, r.error)
    return totals


def close_night(source_name: str, night: date, settings: Settings | None = None) -> dict:
    """Totals for the night over the current files; fail loudly if rows went missing.

    Conservation is checked twice: per file (rows in = loaded + quarantined) and
    against what the tables really hold.
    """
    source = SOURCES[source_name]
    with connect(settings) as conn, conn.transaction():
        # two runs closing the same night (a rerun racing a backfill) take turns
        conn.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 1))",
            (f"close/{source.name}/{night.isoformat()}",),
        )
        f = conn.execute(
            "select count(*), count(*) filter (where status='rejected'),"
            " count(distinct lao_code) filter (where status='loaded'),"
            " coalesce(sum(rows_in),0), coalesce(sum(rows_loaded),0),"
            " coalesce(sum(rows_quarantined),0),"
            " count(*) filter (where rows_in <> rows_loaded + rows_quarantined)"
            " from ops.files where source=%s and extract_date=%s",
            (source.name, night),
        ).fetchone()
        in_raw = conn.execute(
            f"select count(*) from raw.{source.table} where extract_date=%s", (night,)
        ).fetchone()[0]
        in_q = conn.execute(
            "select count(*) from ops.quarantine where source=%s and extract_date=%s",
            (source.name, night),
        ).fetchone()[0]
        files, rejected, laos, rows_in, loaded, quarantined, bad_files = f
        _record_submissions(conn, source.name, night, settings or get_settings())
        ok = bad_files == 0 and in_raw == loaded and in_q == quarantined
        conn.execute(
            "insert into ops.nights (source, extract_date, files, files_rejected, laos_reporting,"
            " rows_in, rows_loaded, rows_quarantined, conservation_ok)"
            " values (%s,%s,%s,%s,%s,%s,%s,%s,%s) on conflict (source, extract_date) do update set"
            " files=excluded.files, files_rejected=excluded.files_rejected,"
            " laos_reporting=excluded.laos_reporting, rows_in=excluded.rows_in,"
            " rows_loaded=excluded.rows_loaded, rows_quarantined=excluded.rows_quarantined,"
            " conservation_ok=excluded.conservation_ok, checked_at=now()",
            (source.name, night, files, rejected, laos, rows_in, loaded, quarantined, ok),
        )
    summary = {
        "source": source.name,
        "extract_date": night.isoformat(),
        "files": files,
        "files_rejected": rejected,
        "laos_reporting": laos,
        "rows_in": rows_in,
        "rows_loaded": loaded,
        "rows_quarantined": quarantined,
        "conservation_ok": ok,
    }
    if not ok:
        raise ConservationError(
            f"{source.name} {night}: rows in ({rows_in}) != loaded ({loaded}, {in_raw} in raw)"
            f" + quarantined ({quarantined}, {in_q} in quarantine); {bad_files} file(s) unbalanced"
        )
    return summary


def _record_submissions(conn, source: str, night: date, settings: Settings) -> None:
    """Who sent and who did not (registry LAOs only), for the compliance marts."""
    sent = {
        lao: (status, name)
        for lao, status, name in conn.execute(
            "select lao_code, status, file_name from ops.files where source=%s and extract_date=%s"
            " and lao_code is not null",
            (source, night),
        ).fetchall()
    }
    conn.execute("delete from ops.submissions where source=%s and extract_date=%s", (source, night))
    with conn.cursor().copy(
        "copy ops.submissions (source, extract_date, lao_code, status, file_name) from stdin"
    ) as copy:
        for lao in sorted(load_lao_codes(settings.reference_dir)):
            status, name = sent.get(lao, (None, None))
            copy.write_row(
                (
                    source,
                    night,
                    lao,
                    {"loaded": "reported", "rejected": "rejected"}.get(status, "missing"),
                    name,
                )
            )


def load_night(
    source_name: str,
    night: date,
    batches: int = 4,
    run_id: str = "cli",
    settings: Settings | None = None,
) -> dict:
    """Everything for one source and night, without Airflow (tests, CLI, benchmarks)."""
    settings = settings or get_settings()
    migrate(settings)
    names = discover(source_name, night, settings)
    for batch in plan_batches(names, batches):
        load_batch(source_name, night, batch, run_id, settings)
    return close_night(source_name, night, settings)


def forget_night(source_name: str, night: date, settings: Settings | None = None) -> None:
    """Drop what was loaded for a night so the next run reloads every file (reprocessing)."""
    source = SOURCES[source_name]
    with connect(settings) as conn, conn.transaction():
        conn.execute(f"delete from raw.{source.table} where extract_date=%s", (night,))
        for table in ("ops.quarantine", "ops.files", "ops.nights"):
            conn.execute(
                f"delete from {table} where source=%s and extract_date=%s", (source.name, night)
            )
