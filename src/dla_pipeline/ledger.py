"""The ``ops.*`` ledger: every read and write of it from Python goes through here.

What the ledger records:

* ``ops.files`` - every entry of a night folder with its verdict (loaded, rejected,
  superseded), reason code, counts and checksum; ``ops.file_loads`` - one audit row per
  entry per run; ``ops.quarantine`` - rejected rows with file, line, field and reason;
  ``ops.landing_issues`` - what breaks the layout outside the night folders.
* ``ops.lao_night_changes`` - each time an LAO-night's data is replaced (new, re-sent,
  retracted), with a change id that incremental models use as their watermark.
* ``ops.nights`` - per source and night: totals and conservation; ``ops.submissions``
  - who reported, was rejected or is missing.
* ``ops.runs``, ``ops.quality_results`` (with the severity as a column),
  ``ops.publish_log``, ``ops.seed_state``.

Functions take an open connection when they are part of a caller's transaction.
"""

from __future__ import annotations

import json
import os
import socket
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import psycopg

from .config import SOURCES

RUN_LOCK_CLASS = 7201  # pg_advisory_lock(class, key): one run per night
# a night run holds its month's lock shared, a backfill each month of its range alone: a
# few locks a backfill however long (the server's lock table is shared and bounded)
MONTH_LOCK_CLASS = 7202
GATE_LOCK = 4244
MAINTENANCE_LOCK = 4245
BUILD_LOCK = 4246  # one dbt build at a time (it owns core.build_state and marts_build)  # loads and builds share it; an erasure or a key rotation takes it alone


def maintenance_shared(conn) -> None:
    conn.execute("select pg_advisory_xact_lock_shared(%s)", (MAINTENANCE_LOCK,))


def maintenance_exclusive(conn) -> None:
    conn.execute("select pg_advisory_xact_lock(%s)", (MAINTENANCE_LOCK,))


def erased_tokens(conn) -> dict[str, frozenset[str]]:
    """The tombstones of erased people, per purpose."""
    out: dict[str, set[str]] = {}
    for purpose, token in conn.execute("select purpose, token from ops.erasures").fetchall():
        out.setdefault(purpose, set()).add(token)
    return {k: frozenset(v) for k, v in out.items()}


# -- loading ------------------------------------------------------------------------


def new_load_id(conn) -> int:
    return conn.execute("select nextval('ops.load_id_seq')").fetchone()[0]


def lock_units(conn, source: str, night: date, groups: Sequence[str]) -> None:
    """Transaction locks over the groups of units (LAO-nights or stray files) a batch
    loads: two runs of the same night take turns per group and never interleave on a unit.
    Groups are what batches are made of (provinces), so the batches of one plan never wait
    for each other, and a night needs a few dozen locks, not one per file."""
    conn.execute(
        "select pg_advisory_xact_lock(hashtextextended(%s || '/' || %s || '/' || g, 0))"
        " from unnest(%s::text[]) as g order by g",
        (source, night.isoformat(), sorted(set(groups))),
    )


@dataclass(frozen=True)
class KnownFile:
    file_name: str
    lao_code: str | None
    sha256: str | None
    status: str
    reason_code: str | None
    stat_signature: str | None
    rows_loaded: int
    entry_kind: str


def known_files(conn, source: str, night: date) -> dict[str, KnownFile]:
    rows = conn.execute(
        "select file_name, lao_code, sha256, status, reason_code, stat_signature, rows_loaded,"
        " entry_kind from ops.files where source=%s and extract_date=%s",
        (source, night),
    ).fetchall()
    return {r[0]: KnownFile(*r) for r in rows}


@dataclass
class FileRecord:
    """What the loader learnt about one entry of a night folder."""

    file_name: str
    lao_code: str | None
    entry_kind: str = "file"
    sha256: str | None = None
    size_bytes: int | None = None
    stat_signature: str | None = None
    encoding: str | None = None
    status: str = "loaded"  # loaded | rejected | superseded | unchanged (audit only)
    reason_code: str | None = None
    error: str | None = None
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    amount_loaded: object = None  # baht of the loaded rows (Decimal), for sources with amounts
    extra_columns: list[str] | None = None
    started_at: object = None
    duration_ms: int = 0


def allocate_changes(
    conn, source: str, night: date, load_id: int, counts: dict[str, tuple[int, int]]
) -> dict[str, int]:
    """Change ids for the LAO-nights replaced by this load ({lao: (rows_before, rows_after)}).

    The counter row stays locked until commit, so changes commit in change-id order and
    a model that has read change N has every change below N."""
    if not counts:
        return {}
    laos = sorted(counts)
    last = conn.execute(
        "update ops.change_counter set last_change_id = last_change_id + %s"
        " returning last_change_id",
        (len(laos),),
    ).fetchone()[0]
    ids = {lao: last - len(laos) + 1 + i for i, lao in enumerate(laos)}
    with conn.cursor().copy(
        "copy ops.lao_night_changes (change_id, source, extract_date, lao_code, load_id,"
        " rows_before, rows_after) from stdin"
    ) as copy:
        for lao in laos:
            copy.write_row((ids[lao], source, night, lao, load_id, *counts[lao]))
    return ids


def last_change_id(conn) -> int:
    return conn.execute("select last_change_id from ops.change_counter").fetchone()[0]


def write_files(conn, source: str, night: date, load_id: int, records: Iterable[FileRecord]):
    """The current verdict of each entry that was (re)read: its earlier row, if any, is
    replaced (one delete and one COPY, not a statement per file)."""
    latest = {r.file_name: r for r in records}  # one row per name; the last verdict wins
    if not latest:
        return
    conn.execute(
        "delete from ops.files where source=%s and extract_date=%s and file_name = any(%s)",
        (source, night, list(latest)),
    )
    with conn.cursor().copy(
        "copy ops.files (source, extract_date, file_name, lao_code, sha256, load_id, status,"
        " encoding, rows_in, rows_loaded, rows_quarantined, extra_columns, error, reason_code,"
        " entry_kind, size_bytes, stat_signature, amount_loaded) from stdin"
    ) as copy:
        for r in latest.values():
            copy.write_row(
                (
                    source,
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
                    r.reason_code,
                    r.entry_kind,
                    r.size_bytes,
                    r.stat_signature,
                    r.amount_loaded,
                )
            )


def touch_signatures(conn, source: str, night: date, sigs: dict[str, str]) -> None:
    """Entries whose content is unchanged but whose stat changed (a touch, a copy)."""
    if sigs:
        conn.execute(
            "update ops.files f set stat_signature = s.sig from unnest(%s::text[], %s::text[])"
            " as s(name, sig) where f.source=%s and f.extract_date=%s and f.file_name = s.name",
            (list(sigs), list(sigs.values()), source, night),
        )


def forget_files(conn, source: str, night: date, names: Sequence[str]) -> None:
    """Ledger rows (and their quarantine) of entries that are gone from a reloaded unit."""
    if names:
        for table in ("ops.quarantine", "ops.files"):
            conn.execute(
                f"delete from {table} where source=%s and extract_date=%s and file_name = any(%s)",
                (source, night, list(names)),
            )


QUARANTINE_COLUMNS = (
    "load_id",
    "source",
    "extract_date",
    "file_name",
    "lao_code",
    "file_sha256",
    "row_no",
    "field",
    "reason_code",
    "reason",
    "raw_line",
)


def replace_quarantine(conn, source: str, night: date, names: Sequence[str], blocks) -> None:
    """The quarantine of the (re)read entries: old rows out, the spooled COPY text in."""
    conn.execute(
        "delete from ops.quarantine where source=%s and extract_date=%s and file_name = any(%s)",
        (source, night, list(names)),
    )
    with conn.cursor().copy(
        f"copy ops.quarantine ({', '.join(QUARANTINE_COLUMNS)}) from stdin"
    ) as copy:
        for block in blocks:
            copy.write(block)


def audit_file_loads(conn, run_id: str, source: str, night: date, load_id: int, records):
    with conn.cursor().copy(
        "copy ops.file_loads (run_id, load_id, source, extract_date, file_name,"
        " lao_code, sha256, size_bytes, encoding, status, rows_in, rows_loaded,"
        " rows_quarantined, extra_columns, error, started_at, duration_ms, reason_code,"
        " entry_kind) from stdin"
    ) as copy:
        for r in records:
            copy.write_row(
                (
                    run_id,
                    load_id,
                    source,
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
                    r.reason_code,
                    r.entry_kind,
                )
            )


def record_landing_issues(conn, scopes: Sequence[str], issues) -> None:
    """Upsert what the scan found outside the night folders; resolve what is gone.
    Closes running at once (the load's pool, Airflow's three close tasks) share the
    'root' scope: each takes its scopes' locks, in one order, until its commit, so two of
    them never lock the same issue rows in opposite orders."""
    for scope in sorted(set(scopes)):
        conn.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 1))", (f"landing_issues/{scope}",)
        )
    seen = [i.key for i in issues]
    conn.cursor().executemany(
        "insert into ops.landing_issues (path_sha256, path, scope, source, extract_date,"
        " entry_kind, reason_code, reason, size_bytes) values (%s,%s,%s,%s,%s,%s,%s,%s,%s)"
        " on conflict (path_sha256) do update set reason_code=excluded.reason_code,"
        " reason=excluded.reason, entry_kind=excluded.entry_kind,"
        " size_bytes=excluded.size_bytes, last_seen_at=now(), resolved_at=null",
        [
            (i.key, i.path, i.scope, i.source, i.night, i.kind, i.code, i.detail, i.size)
            for i in issues
        ],
    )
    conn.execute(
        "update ops.landing_issues set resolved_at = now() where scope = any(%s)"
        " and resolved_at is null and not (path_sha256 = any(%s))",
        (list(scopes), seen),
    )


# -- closing a night ------------------------------------------------------------------


# a night's totals over its entries in ops.files: files, files_rejected, laos_reporting,
# rows_in, rows_loaded, rows_quarantined (what a close records, and what a summary reads
# of a night its load did not close)
_FILE_TOTALS = (
    "count(*), count(*) filter (where status <> 'loaded'),"
    " count(distinct lao_code) filter (where status='loaded'),"
    " coalesce(sum(rows_in),0), coalesce(sum(rows_loaded),0),"
    " coalesce(sum(rows_quarantined),0)"
)


def close_night(conn, source: str, table: str, night: date, registry: Iterable[str]) -> dict:
    """Totals over the night's current entries, conservation, and who reported."""
    conn.execute(
        "select pg_advisory_xact_lock(hashtextextended(%s, 1))",
        (f"close/{source}/{night.isoformat()}",),
    )
    f = conn.execute(
        f"select {_FILE_TOTALS},"
        " count(*) filter (where rows_in <> rows_loaded + rows_quarantined)"
        " from ops.files where source=%s and extract_date=%s",
        (source, night),
    ).fetchone()
    in_raw = conn.execute(
        f"select count(*) from raw.{table} where extract_date=%s", (night,)
    ).fetchone()[0]
    in_q = conn.execute(
        "select count(*) from ops.quarantine where source=%s and extract_date=%s",
        (source, night),
    ).fetchone()[0]
    files, rejected, laos, rows_in, loaded, quarantined, bad_files = f
    _record_submissions(conn, source, night, registry)
    ok = bad_files == 0 and in_raw == loaded and in_q == quarantined
    conn.execute(
        "insert into ops.nights (source, extract_date, files, files_rejected, laos_reporting,"
        " rows_in, rows_loaded, rows_quarantined, conservation_ok)"
        " values (%s,%s,%s,%s,%s,%s,%s,%s,%s) on conflict (source, extract_date) do update set"
        " files=excluded.files, files_rejected=excluded.files_rejected,"
        " laos_reporting=excluded.laos_reporting, rows_in=excluded.rows_in,"
        " rows_loaded=excluded.rows_loaded, rows_quarantined=excluded.rows_quarantined,"
        " conservation_ok=excluded.conservation_ok, checked_at=now()",
        (source, night, files, rejected, laos, rows_in, loaded, quarantined, ok),
    )
    return {
        "source": source,
        "extract_date": night.isoformat(),
        "files": files,
        "files_rejected": rejected,
        "laos_reporting": laos,
        "rows_in": rows_in,
        "rows_loaded": loaded,
        "rows_quarantined": quarantined,
        "conservation_ok": ok,
        "in_raw": in_raw,
        "in_quarantine": in_q,
        "unbalanced_files": bad_files,
    }


def _record_submissions(conn, source: str, night: date, registry: Iterable[str]) -> None:
    """Every registered LAO: reported (a loaded file, header-only included), rejected
    (it sent something unusable) or missing."""
    sent: dict[str, tuple[str, str]] = {}
    for lao, status, name in conn.execute(
        "select lao_code, status, file_name from ops.files where source=%s and extract_date=%s"
        " and lao_code is not null order by (status = 'loaded') , file_name",
        (source, night),
    ).fetchall():
        sent[lao] = (status, name)  # a loaded file wins over a rejected one
    conn.execute("delete from ops.submissions where source=%s and extract_date=%s", (source, night))
    with conn.cursor().copy(
        "copy ops.submissions (source, extract_date, lao_code, status, file_name) from stdin"
    ) as copy:
        for lao in sorted(registry):
            status, name = sent.get(lao, (None, None))
            copy.write_row(
                (
                    source,
                    night,
                    lao,
                    "reported" if status == "loaded" else "rejected" if status else "missing",
                    name,
                )
            )


def night_totals(conn, night: date) -> dict[str, dict]:
    """Each source's totals of a night, from its entries in ops.files, and whether a
    close recorded these very totals after the last entry was written (``closed``; its
    ``conservation_ok`` is None until then). A load that died after some batches
    committed shows what they hold, not zero, and says the night is not closed.
    Nothing loaded or closed for a source: zeros, not closed."""
    keys = (
        "files",
        "files_rejected",
        "laos_reporting",
        "rows_in",
        "rows_loaded",
        "rows_quarantined",
    )

    def by_source(sql: str) -> dict[str, tuple]:
        return {r[0]: r[1:] for r in conn.execute(sql, (night,))}

    files = by_source(
        f"select source, {_FILE_TOTALS}, max(loaded_at) from ops.files"
        " where extract_date=%s group by source"
    )
    closes = by_source(
        f"select source, {', '.join(keys)}, conservation_ok, checked_at from ops.nights"
        " where extract_date=%s"
    )
    out: dict[str, dict] = {}
    for source in SOURCES:
        f, n = files.get(source), closes.get(source)
        totals = tuple(f[: len(keys)]) if f else (0,) * len(keys)
        # closed: a close recorded these very totals, after the last entry was written
        # (its figures equal to the entries' catches a batch that began before the close
        # and committed after it, and entries forgotten since)
        closed = n is not None and tuple(n[: len(keys)]) == totals
        closed = closed and (f is None or n[-1] >= f[-1])
        out[source] = dict(zip(keys, totals, strict=True)) | {
            "conservation_ok": n[-2] if closed else None,
            "closed": closed,
        }
    return out


def landing_issue_counts(conn, night: date) -> dict[str, int]:
    return dict(
        conn.execute(
            "select reason_code, count(*) from ops.landing_issues where resolved_at is null"
            " and (extract_date = %s or extract_date is null) group by 1 order by 1",
            (night,),
        ).fetchall()
    )


def loaded_nights(conn) -> list[date]:
    return [r[0] for r in conn.execute("select distinct extract_date from ops.nights order by 1")]


def forget_lao(conn, source: str, night: date, lao: str) -> None:
    """The LAO's files of a night are unknown again: the next load re-reads them."""
    forget_files(
        conn,
        source,
        night,
        [
            r[0]
            for r in conn.execute(
                "select file_name from ops.files where source=%s and extract_date=%s and lao_code=%s",
                (source, night, lao),
            )
        ],
    )


def forget_night(conn, source: str, table: str, night: date) -> None:
    """Drop what was loaded for a night so the next run reloads every file."""
    conn.execute(f"delete from raw.{table} where extract_date=%s", (night,))
    for t in ("ops.quarantine", "ops.files", "ops.nights", "ops.submissions"):
        conn.execute(f"delete from {t} where source=%s and extract_date=%s", (source, night))


# -- erasure and retention (PDPA) ----------------------------------------------------


def count_as_erased(conn, source: str, field: str, rows, reason: str) -> None:
    """Loaded rows an erasure removed: each becomes a quarantined row (reason ``erased``,
    no content) and leaves its file's and its night's loaded counts, so a night still
    reconciles and the gate's ledger checks see what raw holds.
    ``rows``: (night, lao_code, file_name, file_sha256, row_no, load_id, amount)."""
    rows = list(rows)
    if not rows:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "insert into ops.quarantine (load_id, source, extract_date, file_name, lao_code,"
            " file_sha256, row_no, field, reason_code, reason, raw_line) values"
            " (%s,%s,%s,%s,%s,%s,%s,%s,'erased',%s,null)",
            [
                (load_id, source, night, name, lao, sha, row_no, field, reason)
                for night, lao, name, sha, row_no, load_id, _amount in rows
            ],
        )
        cur.executemany(
            "update ops.files set rows_loaded = rows_loaded - 1,"
            " rows_quarantined = rows_quarantined + 1, amount_loaded = amount_loaded - %s"
            " where source = %s and extract_date = %s and file_name = %s",
            [(amount, source, night, name) for night, _l, name, _s, _r, _i, amount in rows],
        )
        # and the night's totals (not its checked_at: an erasure re-publishes nothing)
        per_night = Counter(r[0] for r in rows)
        cur.executemany(
            "update ops.nights set rows_loaded = rows_loaded - %s,"
            " rows_quarantined = rows_quarantined + %s where source = %s and extract_date = %s",
            [(n, n, source, night) for night, n in per_night.items()],
        )


def erase_quarantined(conn, source: str, token: str, reason: str) -> int:
    """Quarantined lines that carry the person's line token keep their count, lose their
    content (``raw_line``) and take reason ``erased``."""
    like = f"%[id:{token}]%"
    return conn.execute(
        "update ops.quarantine set raw_line = null, reason_code = 'erased', reason = %s"
        " where source = %s and (raw_line like %s or reason like %s)",
        (reason, source, like, like),
    ).rowcount


def record_erasure(conn, purpose: str, token: str, who: str, removed: dict) -> None:
    """The tombstone of an erased person (a keyed token, never the ID), with what went."""
    conn.execute(
        "insert into ops.erasures (purpose, token, erased_by, rows_removed) values (%s,%s,%s,%s)"
        " on conflict (purpose, token) do update set rows_removed = ops.erasures.rows_removed"
        " || excluded.rows_removed, erased_at = now()",
        (purpose, token, who, json.dumps(removed)),
    )


def purge_quarantine(conn, cutoff: date, dry_run: bool) -> int:
    """Quarantined rows of nights before ``cutoff``: counted, and deleted unless dry."""
    if dry_run:
        sql = "select count(*) from ops.quarantine where extract_date < %s"
    else:
        sql = (
            "with d as (delete from ops.quarantine where extract_date < %s returning 1)"
            " select count(*) from d"
        )
    return conn.execute(sql, (cutoff,)).fetchone()[0]


def last_change_before(conn, cutoff: date) -> int:
    """The last change made before ``cutoff`` (change ids grow with time): the rows a
    re-send replaced are kept for a time counted from the re-send, not from their load."""
    return conn.execute(
        "select coalesce(max(change_id), 0) from ops.lao_night_changes where changed_at < %s",
        (cutoff,),
    ).fetchone()[0]


def record_purge(conn, report: Iterable[dict]) -> None:
    """One ``ops.purge_log`` row per kind of thing a purge removed."""
    with conn.cursor() as cur:
        cur.executemany(
            "insert into ops.purge_log (what, older_than, rows, files) values (%s,%s,%s,%s)",
            [(r["what"], r["older_than"], r.get("rows", 0), r.get("files", 0)) for r in report],
        )


def rejection_reason_sql(conn) -> str | None:
    """A correlated subquery giving a ``marts.missing_submissions`` row ``m`` the reason
    code of the ledger row it was built from (same night, LAO and detail), for marts built
    before the mart carried the code; None when this role cannot read the ledger."""
    readable = conn.execute(
        "select has_table_privilege('ops.files', 'select')"
        " and has_table_privilege('ops.submissions', 'select')"
        " and exists (select 1 from information_schema.columns where table_schema = 'ops'"
        "   and table_name = 'files' and column_name = 'reason_code')"
    ).fetchone()[0]
    if not readable:
        return None
    return (
        "(select f.reason_code from ops.submissions as s"
        " join ops.files as f on f.source = s.source and f.extract_date = s.extract_date"
        "  and f.file_name = s.file_name"
        " where s.source = m.source and s.extract_date = m.extract_date"
        "  and s.lao_code = m.lao_code and f.error is not distinct from m.rejection_reason"
        " limit 1)"
    )


# -- quality gate and publishing -------------------------------------------------------


def record_quality(conn, run_id: str, night: date, outcomes) -> None:
    conn.execute(
        "delete from ops.quality_results where run_id=%s and extract_date=%s", (run_id, night)
    )
    with conn.cursor().copy(
        "copy ops.quality_results (run_id, extract_date, suite, expectation, severity,"
        " column_name, success, observed, description) from stdin"
    ) as cp:
        for o in outcomes:
            cp.write_row(
                (
                    run_id,
                    night,
                    o.suite,
                    o.expectation,
                    o.severity,
                    o.column,
                    o.success,
                    o.observed,
                    o.description,
                )
            )


def quality_results(conn, run_id: str, night: date) -> list[tuple]:
    return conn.execute(
        "select suite, expectation, severity, column_name, success, observed, description"
        " from ops.quality_results where run_id=%s and extract_date=%s",
        (run_id, night),
    ).fetchall()


def pending_nights(conn) -> list[date]:
    """Nights loaded (or re-loaded) since they were last published."""
    return [
        r[0]
        for r in conn.execute(
            "select n.extract_date from (select extract_date, max(checked_at) as checked_at"
            " from ops.nights group by extract_date) as n"
            " left join marts.published_nights as p using (extract_date)"
            " where p.published_at is null or p.published_at < n.checked_at order by 1"
        ).fetchall()
    ]


def nights_in_build(conn, nights: list[date], change_hi: int) -> list[date]:
    """Those of ``nights`` wholly inside a build whose changes end at ``change_hi``: a night
    loaded (again) after the build began is not in its marts, so not published with them."""
    later = {
        r[0]
        for r in conn.execute(
            "select distinct extract_date from ops.lao_night_changes"
            " where change_id > %s and extract_date = any(%s)",
            (change_hi, list(nights)),
        ).fetchall()
    }
    return [n for n in nights if n not in later]


def gate_recorded_at(conn, run_id: str, night: date):
    """When a run's gate recorded its outcomes for a night (None: no gate ran)."""
    return conn.execute(
        "select max(checked_at) from ops.quality_results where run_id=%s and extract_date=%s",
        (run_id, night),
    ).fetchone()[0]


def is_published(conn, night: date) -> bool:
    return bool(
        conn.execute(
            "select 1 from marts.published_nights where extract_date = %s", (night,)
        ).fetchone()
    )


def next_publish_version(conn) -> int:
    return conn.execute("select nextval('ops.publish_seq')").fetchone()[0]


def record_publish(conn, night: date, run_id: str, status: str, marts, reason=None) -> None:
    conn.execute(
        "insert into ops.publish_log (extract_date, run_id, status, marts, reason)"
        " values (%s, %s, %s, %s, %s)",
        (night, run_id, status, list(marts), reason),
    )


def last_publish(conn, night: date, since=None) -> tuple | None:
    """The latest publish or block of a night (since a run started, when given)."""
    return conn.execute(
        "select run_id, status, marts, reason from ops.publish_log where extract_date=%s"
        " and published_at >= coalesce(%s, '-infinity'::timestamptz)"
        " order by published_at desc limit 1",
        (night, since),
    ).fetchone()


# -- seeds ------------------------------------------------------------------------------


def seed_digest(conn) -> str | None:
    row = conn.execute("select sha256 from ops.seed_state").fetchone()
    return row[0] if row else None


def set_seed_digest(conn, digest: str) -> None:
    conn.execute("delete from ops.seed_state")
    conn.execute("insert into ops.seed_state (sha256) values (%s)", (digest,))


# -- runs --------------------------------------------------------------------------------


@dataclass
class Interrupted:
    run_id: str
    step: str | None
    started_at: object
    heartbeat_at: object
    pid: int | None
    host: str | None
    first: date
    last: date


def _run_lock_key(what: str, when: date) -> tuple[int, int]:
    """A night's lock, or a month's (``when`` any day of it)."""
    if what == "night":
        return RUN_LOCK_CLASS, when.toordinal()
    return MONTH_LOCK_CLASS, when.year * 12 + when.month - 1


def try_run_lock(conn, what: str, when: date, shared: bool = False) -> bool:
    fn = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
    return conn.execute(f"select {fn}(%s, %s)", _run_lock_key(what, when)).fetchone()[0]


def wait_run_lock(conn, what: str, when: date, shared: bool = False) -> None:
    fn = "pg_advisory_lock_shared" if shared else "pg_advisory_lock"
    conn.execute(f"select {fn}(%s, %s)", _run_lock_key(what, when))


# a run's range overlaps first..last: a night run's own night, or a backfill's nights
_OVERLAPS = "extract_date <= %s and coalesce(date_to, extract_date) >= %s"


def running_holder(conn, first: date, last: date) -> tuple | None:
    """The run that says it is running over any night of first..last, a night run or a
    backfill (while another process holds the lock we wait for)."""
    return conn.execute(
        "select run_id, pid, host, started_at, step from ops.runs where status='running'"
        f" and kind in ('night', 'backfill') and {_OVERLAPS} order by started_at desc limit 1",
        (last, first),
    ).fetchone()


def mark_interrupted(conn, first: date, last: date | None = None) -> list[Interrupted]:
    """Runs (night runs and backfills) over any night of first..last that still say
    'running' although we hold the locks of those nights: they were killed (a run takes
    its locks before its row says it runs). Returns them, marked interrupted."""
    rows = conn.execute(
        "update ops.runs set status='interrupted', finished_at=now(),"
        " message=coalesce(message, 'interrupted: the process stopped without finishing')"
        f" where status='running' and kind in ('night', 'backfill') and {_OVERLAPS}"
        " returning run_id, step, started_at, heartbeat_at, pid, host, extract_date,"
        " coalesce(date_to, extract_date)",
        (last or first, first),
    ).fetchall()
    return [Interrupted(*r) for r in rows]


def ensure_run(conn, run_id: str, night: date, kind: str, runner: str, triggered_by=None) -> None:
    """A run of a DAG (or the direct runner) as the steps of it arrive."""
    conn.execute(
        "insert into ops.runs (run_id, extract_date, kind, runner, triggered_by, host, pid, status)"
        " values (%s,%s,%s,%s,%s,%s,%s,'running') on conflict (run_id) do update set"
        " heartbeat_at = now(), status = 'running'",
        (run_id, night, kind, runner, triggered_by or _who(), socket.gethostname(), os.getpid()),
    )


def runs_of_night(conn, night: date, since=None) -> list[tuple]:
    """The latest run of each kind for a night, a backfill's for its last night:
    (kind, run_id, status, steps, triggered_by)."""
    return conn.execute(
        "select distinct on (kind) kind, run_id, status, steps, triggered_by from ops.runs"
        " where coalesce(date_to, extract_date) = %s"
        " and started_at >= coalesce(%s, '-infinity'::timestamptz)"
        " order by kind, started_at desc",
        (night, since),
    ).fetchall()


def start_run(
    conn, run_id: str, night: date, kind: str, runner: str, date_to=None, triggered_by=None
):
    conn.execute(
        "insert into ops.runs (run_id, extract_date, date_to, kind, runner, triggered_by, host,"
        " pid, status, step) values (%s,%s,%s,%s,%s,%s,%s,%s,'running','start')"
        " on conflict (run_id) do update set status='running', step='start',"
        " heartbeat_at=now(), finished_at=null, pid=excluded.pid",
        (
            run_id,
            night,
            date_to,
            kind,
            runner,
            triggered_by or _who(),
            socket.gethostname(),
            os.getpid(),
        ),
    )


def run_step(conn, run_id: str, step: str, result: dict | None = None) -> None:
    conn.execute(
        "update ops.runs set step=%s, heartbeat_at=now(),"
        " steps = steps || jsonb_build_object(%s::text, %s::jsonb) where run_id=%s",
        (step, step, json.dumps(result or {}, default=str), run_id),
    )


def finish_run(conn, run_id: str, ok: bool, message: str | None = None) -> None:
    conn.execute(
        "update ops.runs set status=%s, finished_at=now(), heartbeat_at=now(), message=%s"
        " where run_id=%s",
        ("succeeded" if ok else "failed", message, run_id),
    )


def _who() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (KeyError, ImportError):  # pragma: no cover
        return str(os.getuid())


def is_missing_table(exc: Exception) -> bool:
    return isinstance(exc, psycopg.errors.UndefinedTable)
