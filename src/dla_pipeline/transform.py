"""Running dbt (in-process, dbtRunner) against the configured warehouse."""

from __future__ import annotations

import json
import logging
import os
from datetime import date

from .config import Settings, get_settings

log = logging.getLogger(__name__)


class DbtFailed(RuntimeError):
    pass


def dbt_env(settings: Settings) -> dict[str, str]:
    pg = settings.pg
    return {
        "DBT_PG_HOST": pg.host,
        "DBT_PG_PORT": str(pg.port),
        "DBT_PG_USER": pg.user,
        "DBT_PG_PASSWORD": pg.password,
        "DBT_PG_DBNAME": pg.dbname,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_LOG_PATH": str(settings.root / "data" / "dbt-logs"),
    }


def run_dbt(args: list[str], settings: Settings | None = None, night: date | None = None) -> list:
    """Invoke dbt with the project's settings; raise ``DbtFailed`` naming what failed."""
    from dbt.cli.main import dbtRunner

    settings = settings or get_settings()
    os.environ.update(dbt_env(settings))
    full = [*args, "--project-dir", str(settings.dbt_dir), "--profiles-dir", str(settings.dbt_dir)]
    if night:
        full += ["--vars", json.dumps({"night": night.isoformat()})]
    log.info("dbt %s", " ".join(full))
    res = dbtRunner().invoke(full)
    if res.exception:
        raise DbtFailed(f"dbt {args[0]} crashed: {res.exception}")
    if not res.success:
        failed = []
        for r in getattr(res.result, "results", []) or []:
            if str(r.status) in ("error", "fail"):
                failed.append(f"{r.node.unique_id}: {r.message}")
        raise DbtFailed(f"dbt {args[0]} failed:\n  " + "\n  ".join(failed or ["see dbt logs"]))
    return list(getattr(res.result, "results", []) or [])


def build(night: date | None = None, settings: Settings | None = None) -> dict:
    """Seeds, models and dbt tests. Seeds reload only when missing or ``full=True``."""
    results = (
        run_dbt(["build", "--exclude", "resource_type:seed"], settings, night)
        if seeds_loaded(settings)
        else run_dbt(["build"], settings, night)
    )
    counts: dict[str, int] = {}
    for r in results:
        key = f"{r.node.resource_type}:{r.status}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def seeds_loaded(settings: Settings | None = None) -> bool:
    """Reference seeds are static between releases: load them once, not every night."""
    from .db import connect

    with connect(settings) as conn:
        row = conn.execute(
            "select count(*) from information_schema.tables where table_schema='staging'"
            " and table_name in ('dla_lao_registry','dopa_provinces','dopa_districts',"
            "'dopa_subdistricts','revenue_accounts','allowance_tiers')"
        ).fetchone()
    return row[0] == 6
