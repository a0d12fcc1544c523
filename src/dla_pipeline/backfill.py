"""Backfilling a range of nights: load every night, then build, check and publish once.

Through Airflow (`make airflow` running): Airflow's own backfill of the three ingest
DAGs, which do not announce each night, then one ``build_marts`` run for the range
(airflow_local.backfill). Without it: the same here, in this process. Either way N
nights cost N loads and about one build.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

from . import ledger, steps
from .config import SOURCES, get_settings
from .db import connect, migrate
from .night import RunLock, report_interrupted


def nights(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def backfill_direct(start: date, end: date, say=print) -> dict:
    """The range loaded, built, checked and published here, holding its months' locks
    (a night run in them waits, and a killed backfill is found and reported by the next
    run over any of its nights); its run in ops.runs ends succeeded or failed (with the
    error), not left running."""
    settings = get_settings()
    migrate(settings)
    lock = RunLock(start, end)
    try:
        report_interrupted(lock.acquire(), start, end)
        run_id = f"backfill__{start}__{end}__{datetime.now():%Y%m%dT%H%M%S%f}"
        ledger.start_run(lock.conn, run_id, start, "backfill", "direct", date_to=end)
        try:
            out = _backfill(start, end, run_id, say)
        except BaseException as exc:
            _finish(run_id, False, steps.error_line(exc))
            raise
        _finish(run_id, True)
    finally:
        lock.close()
    return out


def _finish(run_id: str, ok: bool, message: str | None = None) -> None:
    """On a connection of its own: the lock's has been idle the whole run."""
    with connect(role="loader", autocommit=True) as conn:
        ledger.finish_run(conn, run_id, ok, message)


def _backfill(start: date, end: date, run_id: str, say) -> dict:
    t0 = time.monotonic()
    jobs = [(source, night) for night in nights(start, end) for source in SOURCES]
    say(f"  loading {len(jobs)} source-nights over the machine's cores", flush=True)
    with steps.step(run_id, end, "backfill", "load", runner="direct"):
        outcomes = steps.load_nights(jobs, run_id)
    loaded = 0
    for source, night in jobs:
        try:
            with steps.step(run_id, night, "backfill", f"ingest_{source}", runner="direct"):
                loaded += steps.ingest_close(source, night, outcomes[(source, night)])["rows_in"]
        except steps.NoFiles as exc:
            say(f"  {exc}")
    say(
        f"  {len(jobs)} source-nights loaded, {loaded:,} rows, {time.monotonic() - t0:.0f}s",
        flush=True,
    )
    for name in ("dbt", "quality_gate", "publish"):
        with steps.step(run_id, end, "backfill", name, runner="direct"):
            if name == "dbt":
                steps.transform(end, gate_next=True)
            elif name == "quality_gate":
                steps.quality_gate(end, run_id)
            else:
                steps.publish_marts(end, run_id)
        say(f"  {name} done ({time.monotonic() - t0:.0f}s)", flush=True)
    return {"run_id": run_id, "rows_in": loaded, "seconds": round(time.monotonic() - t0, 1)}
