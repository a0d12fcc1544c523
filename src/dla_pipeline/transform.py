"""Running dbt (in-process, dbtRunner) against the configured warehouse."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

from . import ledger
from .config import Settings, get_settings

log = logging.getLogger(__name__)


class DbtFailed(RuntimeError):
    pass


def dbt_env(settings: Settings) -> dict[str, str]:
    """dbt connects as the transformer: raw without its clear-ID columns."""
    from .config import PgUrl

    pg = PgUrl.parse(settings.role_url("transformer"))
    return {
        "DBT_PG_HOST": pg.host,
        "DBT_PG_PORT": str(pg.port),
        "DBT_PG_USER": pg.user,
        "DBT_PG_PASSWORD": pg.password,
        "DBT_PG_DBNAME": pg.dbname,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_LOG_PATH": str(settings.root / "data" / "dbt-logs"),
        "DBT_THREADS": str(settings.dbt_threads),
    }


def set_build_state(settings: Settings, night: date | None = None, rebuilds: bool = False) -> dict:
    """What every dbt invocation reads from core.build_state: the ledger's last change id
    (the incremental window's upper bound, read once per build) and the night being built.
    A table rather than dbt vars, so dbt's partial parsing survives from build to build.
    ``rebuilds`` (dbt build or run): the window ends at the ledger's last change and
    ``started_at`` is now, so a publish can tell that marts_build changed after its gate
    (publish._gated_build); any other command (seed, test, compile) keeps the last build's
    window, which is what marts_build holds."""
    from .db import connect

    with connect(settings, role="transformer") as conn, conn.transaction():
        state = {"change_hi": ledger.last_change_id(conn), "night": night, "rebuilds": rebuilds}
        conn.execute(
            "create table if not exists core.build_state (night date, change_hi bigint not null)"
        )
        conn.execute("alter table core.build_state add column if not exists started_at timestamptz")
        state["change_hi"] = conn.execute(
            "with old as (delete from core.build_state returning change_hi, started_at)"
            " insert into core.build_state (night, change_hi, started_at)"
            " select %(night)s,"
            " case when %(rebuilds)s then %(change_hi)s"
            "  else coalesce((select max(change_hi) from old), %(change_hi)s) end,"
            " case when %(rebuilds)s then now() else (select max(started_at) from old) end"
            " returning change_hi",
            state,
        ).fetchone()[0]
    return state


def run_dbt(
    args: list[str],
    settings: Settings | None = None,
    night: date | None = None,
    extra_vars: dict | None = None,
    on_running: Callable[[], None] | None = None,
) -> list:
    """Invoke dbt with the project's settings; raise ``DbtFailed`` naming what failed.
    ``on_running`` is called once, when dbt has parsed the project and starts running
    nodes (from then on it mostly waits on the server)."""
    from dbt.cli.main import dbtRunner

    settings = settings or get_settings()
    os.environ.update(dbt_env(settings))
    full = [*args, "--project-dir", str(settings.dbt_dir), "--profiles-dir", str(settings.dbt_dir)]
    if args and args[0] in ("build", "run", "test", "compile", "show", "snapshot", "seed", "docs"):
        set_build_state(settings, night, rebuilds=args[0] in ("build", "run"))
    if extra_vars:
        full += ["--vars", json.dumps(extra_vars)]
    log.info("dbt %s", " ".join(full))
    res = dbtRunner(callbacks=[_once_running(on_running)] if on_running else None).invoke(full)
    if res.exception:
        raise DbtFailed(f"dbt {args[0]} crashed: {res.exception}")
    if not res.success:
        failed = []
        for r in getattr(res.result, "results", []) or []:
            if str(r.status) in ("error", "fail"):
                failed.append(f"{r.node.unique_id}: {r.message}")
        raise DbtFailed(f"dbt {args[0]} failed:\n  " + "\n  ".join(failed or ["see dbt logs"]))
    return list(getattr(res.result, "results", []) or [])


def _once_running(fn: Callable[[], None]) -> Callable:
    """A dbt callback calling ``fn`` at the first event after parsing."""
    called = []

    def callback(event) -> None:
        if not called and event.info.name == "ConcurrencyLine":
            called.append(True)
            fn()

    return callback


def build(
    night: date | None = None,
    settings: Settings | None = None,
    full_refresh: bool = False,
    on_running: Callable[[], None] | None = None,
) -> dict:
    """Seeds when their files changed, then models, snapshots and dbt tests
    (``on_running``: see ``run_dbt``)."""
    from .db import connect

    settings = settings or get_settings()
    # dbt's unit tests check the models' code, not the night's data: they run in CI
    # (tests/test_marts.py), not before each model of every night (dbt Labs' advice)
    args = ["build", "--exclude", "resource_type:seed", "resource_type:unit_test"]
    code = _model_code_digest(settings)
    if full_refresh or _first_incremental_build(settings) or _code_changed(settings, code):
        args.append("--full-refresh")
    # an erasure or a key rotation does not run in the middle of a build
    with connect(settings, role="transformer", autocommit=True) as hold:
        hold.execute("select pg_advisory_lock_shared(%s)", (ledger.MAINTENANCE_LOCK,))
        # two builds at once would share core.build_state and marts_build: they queue
        hold.execute("select pg_advisory_lock(%s)", (ledger.BUILD_LOCK,))
        # inside the lock: two runs at once would both replace the seeds' tables
        refresh_seeds(settings)
        analyze_loaded(settings)
        results = run_dbt(args, settings, night, on_running=on_running)
    _remember_code(settings, code)
    counts: dict[str, int] = {}
    for r in results:
        key = f"{r.node.resource_type}:{r.status}"
        counts[key] = counts.get(key, 0) + 1
    return counts


# largest first: they are analysed side by side, one connection each
ANALYZED = (
    "raw.allowance_payments",
    "raw.tax_receipts",
    "ops.files",
    "raw.vaccination_reports",
    "ops.lao_night_changes",
)


def analyze_loaded(settings: Settings) -> None:
    """Fresh planner statistics for what the loads added (``db.analyze``). A raw table
    this process analysed right after loading it (``ingest.load_source_nights``, beside the
    other sources' batches) and that nothing changed since is not sampled again; every
    other table is, as a load elsewhere (an Airflow task, another process) leaves no such
    mark and may have landed while another ANALYZE reset the change count."""
    from .db import analyze, stale_statistics, take_analysed_after_load

    marked = take_analysed_after_load(ANALYZED)
    fresh = set(marked) - set(stale_statistics(settings, marked)) if marked else set()
    todo = [t for t in ANALYZED if t not in fresh]
    log.info("planner statistics refreshed: %s", ", ".join(todo) or "none needed")
    analyze(settings, todo)


def _model_code_digest(settings: Settings) -> str:
    """The models' and macros' code: when a deploy changes it, incremental tables built by
    the old code (old columns, old rules) are rebuilt once from scratch."""
    digest = hashlib.sha256()
    root = settings.dbt_dir
    files = [root / "dbt_project.yml", *sorted((root / "models").rglob("*.sql"))]
    files += sorted((root / "macros").rglob("*.sql"))
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _code_changed(settings: Settings, code: str) -> bool:
    from .db import connect

    with connect(settings, role="transformer") as conn:
        if not conn.execute("select to_regclass('core.code_state')").fetchone()[0]:
            row = None  # built by a release without this check: which code is unknown
        else:
            row = conn.execute("select sha256 from core.code_state").fetchone()
    if row is None or row[0] != code:
        log.info("the models' code changed since the last build: one full refresh")
        return True
    return False


def _remember_code(settings: Settings, code: str) -> None:
    from .db import connect

    with connect(settings, role="transformer") as conn, conn.transaction():
        conn.execute("create table if not exists core.code_state (sha256 text not null)")
        conn.execute("delete from core.code_state")
        conn.execute("insert into core.code_state (sha256) values (%s)", (code,))


def _first_incremental_build(settings: Settings) -> bool:
    """No model has a watermark yet (a new warehouse, or one upgraded from release 0.1
    whose facts were built from load times): build everything once from scratch."""
    from .db import connect

    with connect(settings, role="transformer") as conn:
        exists = conn.execute("select to_regclass('core.model_watermarks')").fetchone()[0]
        if not exists:
            return True
        return conn.execute("select count(*) from core.model_watermarks").fetchone()[0] == 0


def refresh_seeds(settings: Settings | None = None) -> bool:
    """Reload the seeds (reference data, scorecard weights) only when their files changed.

    The DLA edits ``seeds/scorecard_indicators.csv`` and the next night picks it up; an
    unchanged night does not pay for reloading 15,000 reference rows.
    """
    from .db import connect

    settings = settings or get_settings()
    digest = hashlib.sha256()
    for path in sorted((settings.dbt_dir / "seeds").rglob("*.csv")):
        digest.update(path.name.encode() + path.read_bytes())
    with connect(settings, role="transformer") as conn:
        if ledger.seed_digest(conn) == digest.hexdigest():
            return False
    run_dbt(["seed", "--full-refresh"], settings)
    with connect(settings, role="transformer") as conn, conn.transaction():
        ledger.set_seed_digest(conn, digest.hexdigest())
    return True


DOCS_DIR = Path("target") / "docs"


def generate_docs(settings: Settings | None = None) -> Path:
    """dbt docs as analysts need them: the marts shown in the schemas they query (``marts``,
    ``restricted``: var docs_published), with their column types from the published views,
    and the warehouse overview (models/overview.md). One self-contained page."""
    settings = settings or get_settings()
    out = settings.dbt_dir / DOCS_DIR
    run_dbt(
        ["docs", "generate", "--static", "--target-path", str(out)],
        settings,
        extra_vars={"docs_published": True},
    )
    return out / "static_index.html"
