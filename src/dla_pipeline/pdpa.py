"""PDPA rights and retention: erase a person, rotate the pseudonym key, purge old data,
audit reads of the restricted marts.

* ``erase``: removes a citizen (or taxpayer) from raw, quarantine, core and every mart in
  one transaction; leaves a tombstone (a keyed token, never the ID) so that reloading
  old files cannot bring the person back (their rows are counted and quarantined as
  ``erased``, without content); logs who erased, when, which tables and how many rows.
  The open marts' aggregates are rebuilt and republished at once.
* ``rotate_key``: a new master key and version; every pseudonym in raw is re-derived from
  the clear IDs there (no file is reloaded), then the facts and marts are rebuilt.
* ``purge``: applies config/retention.yml and records what it removed in ops.purge_log.
* ``audit``: who read the restricted schema, from the server log.
Erasure and rotation take the maintenance lock alone: loads and builds wait.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg
import yaml

from . import ledger
from .config import Settings, get_settings, read_env_file
from .pseudonyms import Keys, Pseudonymiser, erasure_token, line_token, pseudonym

log = logging.getLogger(__name__)

# purpose -> (source, raw table, clear-ID column, pseudonym column, facts keyed on it)
PURPOSES = {
    "citizen": (
        "allowance",
        "allowance_payments",
        "citizen_id",
        "person_key",
        (
            "fct_allowance_payments",
            "fct_allowance_line_findings",
            "fct_allowance_multi_lao",
            "allowance_touched_people",  # the rebuild after an erasure touched the key
        ),
    ),
    "taxpayer": ("tax", "tax_receipts", "taxpayer_id", "taxpayer_key", ("fct_tax_receipts",)),
}

# fact -> models kept by deltas of its changes (dbt_project/macros/revenue.sql): a row
# deleted from the fact outside dbt makes them recompute whole on the next build
KEPT_BY_DELTAS = {"fct_tax_receipts": ("agg_revenue_lao_account",)}

# fact -> (model counting its rows per LAO and period, finding group): a row deleted from
# the fact outside dbt is taken off its count in the same transaction (dropping the
# model's watermark instead would widen the build's touched groups to all of history)
COUNTED_BY = {"fct_allowance_line_findings": ("agg_allowance_findings_lao_period", "line")}


class PdpaError(RuntimeError):
    pass


def _digits(clear_id: str) -> str:
    digits = clear_id.translate(str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789"))
    digits = "".join(c for c in digits if c.isdigit())
    if len(digits) != 13:
        raise PdpaError(
            "an ID has 13 digits (dashes allowed): type it as on the card, e.g. 1-2345-67890-12-1"
        )
    return digits


def _erase_raw(conn, purpose: str, digits: str) -> tuple[dict, list[tuple]]:
    """The person's raw rows are retracted like a re-send's (so every model recomputes what
    they touched), without the clear ID; the ledger counts them as quarantined 'erased'."""
    from .contract import LINEAGE_COLUMNS, SOURCES

    source, table, id_col, _key_col, _facts = PURPOSES[purpose]
    spec = SOURCES[source]
    nights = conn.execute(
        f"select extract_date, lao_code, count(*) from raw.{table} where {id_col} = %s group by 1, 2",
        (digits,),
    ).fetchall()
    erased: list[tuple] = []
    for night in sorted({n for n, _l, _c in nights}):
        counts = {lao: (c, c) for n, lao, c in nights if n == night}  # rows_after set below
        before = dict(
            conn.execute(
                f"select lao_code, count(*) from raw.{table} where extract_date = %s and lao_code = any(%s) group by 1",
                (night, list(counts)),
            ).fetchall()
        )
        counts = {lao: (before[lao], before[lao] - c) for lao, (c, _) in counts.items()}
        ids = ledger.allocate_changes(conn, source, night, 0, counts)
        cols = [
            c
            for c in (*LINEAGE_COLUMNS, "key_version", *spec.db_columns, "extra", "loaded_at")
            if c != id_col
        ]
        listed = ", ".join(cols)
        erased += conn.execute(
            f"with gone as (delete from raw.{table} r using unnest(%s::text[], %s::bigint[]) as c(lao_code, change_id)"
            f" where r.extract_date = %s and r.lao_code = c.lao_code and r.{id_col} = %s returning r.*, c.change_id)"
            f" insert into raw.{table}_retracted ({listed}, {id_col}, retracted_change_id)"
            f" select {listed}, '', change_id from gone"
            " returning extract_date, lao_code, source_file, file_sha256, row_no, load_id, amount",
            (list(ids), list(ids.values()), night, digits),
        ).fetchall()
    removed = {f"raw.{table}": sum(c for _n, _l, c in nights)}
    removed[f"raw.{table}_retracted"] = conn.execute(
        f"delete from raw.{table}_retracted where {id_col} = %s", (digits,)
    ).rowcount
    ledger.count_as_erased(
        conn,
        source,
        id_col,
        erased,
        f"the {purpose} was erased (PDPA): the row is not loaded again",
    )
    return removed, [(n, lao) for n, lao, _c in nights]


def _delete_from_fact(conn, fact: str, key_col: str, key: str) -> int:
    """Delete a key's rows from a fact (the hash lets the fact's person index, on hashtext
    of the key, find them), and take them off the count a model keeps of them."""
    where = f"{key_col} = %s and hashtext({key_col}) = hashtext(%s)"
    counted = COUNTED_BY.get(fact)
    if (
        not counted
        or not conn.execute("select to_regclass(%s)", (f"core.{counted[0]}",)).fetchone()[0]
    ):
        return conn.execute(f"delete from core.{fact} where {where}", (key, key)).rowcount
    model, group = counted
    rows = conn.execute(
        f"with gone as (delete from core.{fact} where {where} returning lao_code, payment_period)"
        f" , n as (select lao_code, payment_period, count(*) as c from gone group by 1, 2)"
        f" , counted as (update core.{model} as a set findings = a.findings - n.c from n"
        f" where a.lao_code = n.lao_code and a.payment_period = n.payment_period"
        f" and a.finding_group = %s returning 1)"
        f" select coalesce(sum(c), 0) from n",
        (key, key, group),
    ).fetchone()[0]
    if rows:
        conn.execute(f"delete from core.{model} where findings <= 0")
    return int(rows)


def finish_erasure(admin_db: str, purpose: str, key: str) -> dict:
    """After the rebuild: the retracted keys, and any derived row left with the pseudonym."""
    _source, table, _id, key_col, facts = PURPOSES[purpose]
    removed = {}
    with psycopg.connect(admin_db) as conn, conn.transaction():
        ledger.maintenance_exclusive(conn)
        removed[f"raw.{table}_retracted"] = conn.execute(
            f"delete from raw.{table}_retracted where {key_col} = %s", (key,)
        ).rowcount
        for fact in facts:
            if conn.execute("select to_regclass(%s)", (f"core.{fact}",)).fetchone()[0]:
                removed[f"core.{fact}"] = _delete_from_fact(conn, fact, key_col, key)
        # a fact row the rebuild left (normally none): a model kept by deltas from that
        # fact did not see it go, so its watermark goes and the next build recomputes it
        kept = [m for f in facts if removed.get(f"core.{f}") for m in KEPT_BY_DELTAS.get(f, ())]
        if kept:
            conn.execute("delete from core.model_watermarks where model = any(%s)", (kept,))
        for (store,) in conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " join pg_attribute a on a.attrelid = c.oid where n.nspname in ('marts_store',"
            " 'marts_build', 'restricted_build') and c.relkind = 'r' and a.attname = %s",
            (key_col,),
        ).fetchall():
            removed[store] = sum(
                conn.execute(
                    f'delete from "{schema}"."{store}" where {key_col} = %s', (key,)
                ).rowcount
                for (schema,) in conn.execute(
                    "select n.nspname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                    " where c.relname = %s and c.relkind = 'r'",
                    (store,),
                ).fetchall()
            )
    return removed


def erase(
    purpose: str, clear_id: str, who: str, admin_db: str, settings: Settings | None = None
) -> dict:
    """Erase one person (see the module docstring); returns the rows removed per table.
    Then rebuild and publish, and call ``finish_erasure`` (the CLI does)."""
    settings = settings or get_settings()
    digits = _digits(clear_id)
    keys = Keys.from_settings(settings)
    key = pseudonym(getattr(keys, purpose), digits)
    tomb = erasure_token(settings.erasure_secret, purpose, digits)
    with psycopg.connect(admin_db) as conn, conn.transaction():
        ledger.maintenance_exclusive(conn)
        removed, nights = _erase_raw(conn, purpose, digits)
        removed["ops.quarantine"] = ledger.erase_quarantined(
            conn,
            PURPOSES[purpose][0],
            line_token(settings.erasure_secret, digits),
            f"the {purpose} was erased (PDPA)",
        )
        ledger.record_erasure(conn, purpose, tomb, who, removed)
    log.info("erased a %s (tombstone %s...): %s", purpose, tomb[:12], removed)
    return {
        "token": tomb[:12],
        "key": key,
        "removed": removed,
        "nights": sorted({str(n) for n, _ in nights}),
    }


# -- key rotation ---------------------------------------------------------------------------


def _rekey(
    conn, table: str, id_col: str, key_col: str, key: bytes, version: int, legacy_only: bool = False
) -> int:
    """Pseudonyms of one table re-derived from its clear IDs (once per distinct ID);
    ``legacy_only``: only the rows of release 0.1 (key_version 0)."""
    where = "t.key_version = 0" if legacy_only else "true"
    conn.execute(
        "create temp table rekey (clear_id text primary key, new_key text not null) on commit drop"
    )
    # the IDs are read first (a cursor and a COPY cannot share the connection), spooled
    # to a private temp file as COPY text, then copied in: memory stays flat
    pseudonymise = Pseudonymiser(key)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        with conn.cursor(name=f"ids_{table}") as cur:
            cur.itersize = 50_000
            cur.execute(f"select distinct {id_col} from raw.{table} as t where {where}")
            for (clear_id,) in cur:
                spool.write(f"{clear_id}\t{pseudonymise(clear_id)}\n")
        spool.seek(0)
        with conn.cursor().copy("copy rekey (clear_id, new_key) from stdin") as copy:
            while block := spool.read(1 << 20):
                copy.write(block)
    n = conn.execute(
        f"update raw.{table} t set {key_col} = r.new_key, key_version = %s from rekey r"
        f" where t.{id_col} = r.clear_id and {where}",
        (version,),
    ).rowcount
    conn.execute("drop table rekey")
    return n


def rotate_key(
    admin_db: str, settings: Settings | None = None, env_path: Path | None = None
) -> dict:
    """A new master key and version; every pseudonym re-derived; facts and marts rebuilt."""
    settings = settings or get_settings()
    version = settings.pseudonym_key_version + 1
    master = secrets.token_hex(32)
    keys = Keys.derive(master, version)
    env_path = env_path or settings.root / ".env"
    updated: dict[str, int] = {}
    with psycopg.connect(admin_db) as conn, conn.transaction():
        ledger.maintenance_exclusive(conn)
        for purpose, (_src, table, id_col, key_col, _facts) in PURPOSES.items():
            for t in (table, f"{table}_retracted"):
                updated[f"raw.{t}"] = _rekey(
                    conn, t, id_col, key_col, getattr(keys, purpose), version
                )
        conn.execute("truncate core.model_watermarks")  # the next build rebuilds every fact
        _store_key(env_path, master, version)  # before commit: a failed commit restores it
    return {
        "version": version,
        "fingerprints": {p: keys.fingerprint(p) for p in ("citizen", "taxpayer")},
        "updated": updated,
    }


def rekey_legacy(admin_db: str, settings: Settings | None = None) -> dict:
    """Rows hashed by release 0.1 (key_version 0, one key for every purpose) get the
    current keys; the facts are rebuilt from scratch on the next build."""
    settings = settings or get_settings()
    keys = Keys.from_settings(settings)
    updated: dict[str, int] = {}
    with psycopg.connect(admin_db) as conn, conn.transaction():
        ledger.maintenance_exclusive(conn)
        for purpose, (_src, table, id_col, key_col, _facts) in PURPOSES.items():
            for t in (table, f"{table}_retracted"):
                if conn.execute(f"select 1 from raw.{t} where key_version = 0 limit 1").fetchone():
                    updated[f"raw.{t}"] = _rekey(
                        conn,
                        t,
                        id_col,
                        key_col,
                        getattr(keys, purpose),
                        keys.version,
                        legacy_only=True,
                    )
        if updated and conn.execute("select to_regclass('core.model_watermarks')").fetchone()[0]:
            conn.execute("truncate core.model_watermarks")
    return updated


def _store_key(env_path: Path, master: str, version: int) -> None:
    if not env_path.exists() or "PSEUDONYM_KEY" not in read_env_file(env_path):
        raise PdpaError(
            "PSEUDONYM_KEY does not come from .env here: set PSEUDONYM_KEY and"
            " PSEUDONYM_KEY_VERSION in your secret store, then rerun with them exported"
        )
    lines = []
    for line in env_path.read_text().splitlines():
        if line.startswith("PSEUDONYM_KEY="):
            line = f"PSEUDONYM_KEY={master}"
        elif line.startswith("PSEUDONYM_KEY_VERSION="):
            line = f"PSEUDONYM_KEY_VERSION={version}"
        lines.append(line)
    if not any(x.startswith("PSEUDONYM_KEY_VERSION=") for x in lines):
        lines.append(f"PSEUDONYM_KEY_VERSION={version}")
    tmp = env_path.with_name(".env.rotating")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, env_path)
    os.environ.pop("PSEUDONYM_KEY", None)
    os.environ.pop("PSEUDONYM_KEY_VERSION", None)


# -- retention --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retention:
    landing_files_days: int = 90
    raw_days: int = 1900
    retracted_days: int = 14
    quarantine_days: int = 180
    gx_validations_days: int = 90
    run_logs_days: int = 90

    @classmethod
    def load(cls, path: Path) -> Retention:
        return cls(**(yaml.safe_load(path.read_text()) or {})) if path.exists() else cls()


def purge(
    settings: Settings | None = None, today: date | None = None, dry_run: bool = False
) -> list[dict]:
    """Apply the retention periods; returns (and records) what was removed."""
    from .quality_docs import gx_output_dir

    settings = settings or get_settings()
    rules = Retention.load(settings.config_dir / "retention.yml")
    today = today or date.today()
    report = [
        _purge_landing(settings, today - timedelta(days=rules.landing_files_days), dry_run),
        *_purge_tables(settings, today, rules, dry_run),
        _purge_files(
            gx_output_dir(settings),
            ("validations", "data_docs"),
            today - timedelta(days=rules.gx_validations_days),
            "gx validations",
            dry_run,
        ),
        _purge_files(
            settings.root,
            ("data/runs/logs", "data/dbt-logs", ".airflow/logs"),
            today - timedelta(days=rules.run_logs_days),
            "run logs",
            dry_run,
        ),
    ]
    if not dry_run:
        from .db import connect

        with connect(settings, role="loader") as conn, conn.transaction():
            ledger.record_purge(conn, report)
    return report


def _purge_landing(settings: Settings, cutoff: date, dry_run: bool) -> dict:
    """Night folders older than the cutoff, removed without following any link."""
    from .landing import night_of_folder

    files = 0
    root = Path(settings.landing_dir)
    for source_dir in root.iterdir() if root.is_dir() else []:
        if source_dir.is_symlink() or not source_dir.is_dir():
            continue
        for night_dir in source_dir.iterdir():
            night = night_of_folder(night_dir.name)
            if night is None or night >= cutoff or night_dir.is_symlink():
                continue
            files += sum(len(f) for _d, _s, f in os.walk(night_dir))
            if not dry_run:
                shutil.rmtree(night_dir)  # does not follow symlinks (avoids_symlink_attacks)
    return {"what": "landing files", "older_than": cutoff, "files": files}


def _purge_tables(settings: Settings, today: date, rules: Retention, dry_run: bool) -> list[dict]:
    from .db import connect

    out = []
    # raw rows by their night; replaced rows by when the re-send replaced them (a model,
    # or a kept mart's copy a publish behind, finds what a re-send took away through them)
    plan = [
        (
            "raw rows",
            ["raw.allowance_payments", "raw.tax_receipts", "raw.vaccination_reports"],
            "extract_date < %s",
            rules.raw_days,
            lambda _conn, cutoff: cutoff,
        ),
        (
            "retracted rows",
            [
                "raw.allowance_payments_retracted",
                "raw.tax_receipts_retracted",
                "raw.vaccination_reports_retracted",
            ],
            "retracted_change_id <= %s",
            rules.retracted_days,
            ledger.last_change_before,
        ),
    ]
    with connect(settings, role="loader") as conn, conn.transaction():
        for what, tables, where, days, bound_of in plan:
            cutoff = today - timedelta(days=days)
            bound = bound_of(conn, cutoff)
            rows = 0
            for table in tables:
                verb = "select count(*) from" if dry_run else "with d as (delete from"
                tail = "" if dry_run else " returning 1) select count(*) from d"
                rows += conn.execute(f"{verb} {table} where {where}{tail}", (bound,)).fetchone()[0]
            out.append({"what": what, "older_than": cutoff, "rows": rows})
        cutoff = today - timedelta(days=rules.quarantine_days)
        rows = ledger.purge_quarantine(conn, cutoff, dry_run)
        out.append({"what": "quarantined rows", "older_than": cutoff, "rows": rows})
    return out


def _purge_files(base: Path, folders, cutoff: date, what: str, dry_run: bool) -> dict:
    limit = time.mktime(cutoff.timetuple())
    files = 0
    for folder in folders:
        top = base / folder
        if not top.is_dir() or top.is_symlink():
            continue
        for dirpath, _dirs, names in os.walk(top):
            for name in names:
                path = Path(dirpath) / name
                st = path.lstat()
                if st.st_mtime < limit:
                    files += 1
                    if not dry_run:
                        path.unlink()
    return {"what": what, "older_than": cutoff, "files": files}


# -- audit ----------------------------------------------------------------------------------------


def audit(log_file: Path, since: date | None = None) -> list[str]:
    """Statements that read the restricted schema, and people's connections, from the
    server log (auditor logins log every statement: access.add_user)."""
    out = []
    if not log_file.exists():
        return out
    with log_file.open(errors="replace") as fh:
        for line in fh:
            if since and line[:10] < since.isoformat():
                continue
            if ("statement:" in line and "restricted." in line) or "connection authorized" in line:
                out.append(line.rstrip())
    return out
