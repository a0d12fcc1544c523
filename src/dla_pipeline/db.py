"""Connections and schema migrations (Alembic, in ``dla_pipeline/migrations``)."""

from __future__ import annotations

import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import psycopg
from psycopg import sql

from . import preload
from .config import Settings, get_settings

MIGRATIONS = Path(__file__).with_name("migrations")


def connect(settings: Settings | None = None, role: str = "owner", **kwargs) -> psycopg.Connection:
    """A connection as one of the pipeline's roles (config.PIPELINE_ROLES)."""
    settings = settings or get_settings()
    kwargs.setdefault("application_name", f"dla-{role}")
    return psycopg.connect(settings.role_url(role), **kwargs)


def forked_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` forked processes that die with this one. A forked worker holds
    copies of this process's sockets (the night lock's and the gate lock's connections):
    orphaned by a killed parent, Python's workers would wait for work forever and the
    server would keep those sessions, and their locks, open. Imports running in a thread
    (``preload``) finish first: a child forked mid-import could hang on the import lock."""
    preload.wait()
    return ProcessPoolExecutor(
        workers,
        mp_context=get_context("fork"),
        initializer=_die_with_parent,
        initargs=(os.getpid(),),
    )


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before that
        os._exit(1)


# Raw tables this process analysed right after loading them (ingest.load_source_nights): the
# next build in the same process (the direct runner, a backfill) takes the marks
_ANALYSED_AFTER_LOAD: set[str] = set()


def analyze(
    settings: Settings, tables: list[str] | tuple[str, ...], after_load: bool = False
) -> None:
    """Fresh planner statistics for ``tables``, side by side, one transformer connection
    each: a new night is outside the histograms autovacuum last took (it waits for a tenth
    of a table to change), and a night estimated at one row gets nested loops that run for
    minutes in dbt and the gate. The transformer keeps them (it plans on them; MAINTAIN
    on raw and the ledger's tables, roles.py). ``after_load``: marks them for
    ``take_analysed_after_load``."""
    from concurrent.futures import ThreadPoolExecutor

    def one(table: str) -> None:
        schema, name = table.split(".")
        with connect(settings, role="transformer", autocommit=True) as conn:
            conn.execute(sql.SQL("analyze {}").format(sql.Identifier(schema, name)))

    workers = min(len(tables), settings.load_workers or os.cpu_count() or 1)
    if workers:
        with ThreadPoolExecutor(workers, thread_name_prefix="analyze") as pool:
            list(pool.map(one, tables))
    if after_load:
        _ANALYSED_AFTER_LOAD.update(tables)


def take_analysed_after_load(tables: list[str] | tuple[str, ...]) -> list[str]:
    """Those of ``tables`` this process analysed right after loading them since the last
    call; the marks are taken (a later build samples again)."""
    marked = [t for t in tables if t in _ANALYSED_AFTER_LOAD]
    _ANALYSED_AFTER_LOAD.difference_update(tables)
    return marked


def stale_statistics(settings: Settings, tables: list[str] | tuple[str, ...]) -> list[str]:
    """Those of ``tables`` changed since their last ANALYZE (or never analysed: statistics
    are lost when the server recovers from a crash), in the order given."""
    with connect(settings, role="transformer") as conn:
        fresh = {
            r[0]
            for r in conn.execute(
                "select schemaname || '.' || relname from pg_stat_user_tables"
                " where schemaname || '.' || relname = any(%s) and n_mod_since_analyze = 0"
                " and coalesce(last_analyze, last_autoanalyze) is not null",
                (list(tables),),
            )
        }
    return [t for t in tables if t not in fresh]


def _alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["sqlalchemy_url"] = url.replace("postgresql://", "postgresql+psycopg://", 1)
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config("postgresql://")).get_current_head()


def current_revision(settings: Settings | None = None) -> str | None:
    with connect(settings) as conn:
        exists = conn.execute("select to_regclass('ops.alembic_version')").fetchone()[0]
        if not exists:
            return None
        row = conn.execute("select version_num from ops.alembic_version").fetchone()
        return row[0] if row else None


class SchemaBehind(RuntimeError):
    pass


def require_current(settings: Settings | None = None, role: str = "loader") -> None:
    """The pipeline steps do not migrate (they have no right to): they refuse a warehouse
    whose schema is older than the code, and say what to do."""
    settings = settings or get_settings()
    with connect(settings, role=role) as conn:
        row = conn.execute("select version_num from ops.alembic_version").fetchone()
    head = head_revision()
    if not row or row[0] != head:
        raise SchemaBehind(
            f"the warehouse schema is at revision {row[0] if row else 'none'}, the code needs {head}:"
            " run `make setup` (or `dla migrate`) to upgrade it in place"
        )


def migrate(settings: Settings | None = None) -> str:
    """Upgrade the warehouse schema in place to the newest revision (no-op when current)."""
    from alembic import command

    settings = settings or get_settings()
    head = head_revision()
    if current_revision(settings) != head:
        command.upgrade(_alembic_config(settings.warehouse_url), "head")
    return head
