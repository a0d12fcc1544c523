"""The pipeline's steps as plain functions: the Airflow tasks and the direct runner call
these, and each records itself (timings, outcome) in ``ops.runs``.

The night is one value: resolved and validated once (``resolve_night``), then passed
along to every step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from . import ledger
from .config import get_settings
from .db import connect, require_current
from .ingest import NightPlan, close_night, load_batch, load_source_nights, plan_from_scan
from .nights import BadNight, parse_night, resolve_night, yesterday_in_bangkok  # noqa: F401
from .publish import publish, record_blocked
from .quality import QualityGateFailed, import_in_background, run_gate
from .transform import build

log = logging.getLogger(__name__)


class NoFiles(RuntimeError):
    """No LAO sent anything for a source and night (after the cutoff)."""


def error_line(exc: BaseException) -> str:
    """An error as ops.runs records it: its first line, or its type when it has no text."""
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


@contextmanager
def step(
    run_id: str,
    night: date,
    kind: str,
    name: str,
    runner: str = "airflow",
    triggered_by: str | None = None,
) -> Iterator[dict]:
    """Record a step of a run in ops.runs: when it started, how long it took, its outcome."""
    out: dict = {"started_at": datetime.now(UTC).isoformat()}
    t0 = time.monotonic()
    with connect(role="loader", autocommit=True) as conn:
        ledger.ensure_run(conn, run_id, night, kind, runner, triggered_by)
        ledger.run_step(conn, run_id, name, {**out, "status": "running"})
    try:
        yield out
    except BaseException as exc:
        out |= {"status": "failed", "error": error_line(exc)}
        raise
    else:
        out.setdefault("status", "ok")
    finally:
        out["seconds"] = round(time.monotonic() - t0, 2)
        with connect(role="loader", autocommit=True) as conn:
            ledger.run_step(conn, run_id, name, out)


def ingest_plan(source: str, night: date) -> list[list[str]]:
    """The night's LAO-nights grouped into batches (few task instances, not one per file)."""
    return plan_night(source, night).batches


def plan_night(source: str, night: date) -> NightPlan:
    """The night folder's scan, and its LAO-nights grouped into batches."""
    settings = get_settings()
    require_current(settings)
    plan = plan_from_scan(source, night, settings.ingest_batches, settings)
    scan = plan.scan
    log.info(
        "%s %s: %d entries in %d batches (%d upload(s) in progress, %d landing issue(s))",
        source,
        night,
        len(scan.entries),
        len(plan.batches),
        len(scan.uploads_in_progress),
        len(scan.issues),
    )
    return plan


def ingest_batch(source: str, night: date, units: list[str], run_id: str) -> dict:
    return load_batch(source, night, units, run_id)


def load_nights(
    jobs: list[tuple[str, date]], run_id: str, workers: int = 0
) -> dict[tuple[str, date], BaseException | dict]:
    """Every batch of every (source, night), spread over the machine's cores, each
    source-night planned when its first batch is due and closed from its plan's scan as
    soon as its batches are done (``ingest.load_source_nights``). Returns each (source, night)'s
    outcome for ``ingest_close``: its first error, or its close summary."""
    return load_source_nights(jobs, plan_night, run_id, workers=workers, close=True)


def ingest_close(source: str, night: date, outcome: BaseException | dict | None = None) -> dict:
    """Totals and conservation: the close ``load_nights`` did (``outcome``: its summary,
    or the error that stopped the source-night), or closing now. NoFiles when no LAO sent
    anything for the source."""
    if isinstance(outcome, BaseException):
        raise outcome
    summary = outcome or close_night(source, night)
    if not summary["laos_sending"]:
        raise NoFiles(
            f"no {source} files for {night.isoformat()}: no LAO sent anything by the cutoff"
        )
    return summary


def ingest_catch_up(source: str, night: date, run_id: str) -> list[str]:
    from .ingest import catch_up

    return catch_up(source, night, get_settings().catchup_days, run_id)


def source_status(source: str, night: date) -> str:
    """closed | missing | failed, from the ledger (for a build triggered by hand)."""
    with connect(role="loader") as conn:
        row = ledger.night_totals(conn, night)[source]
    if not row["closed"]:
        return "failed"
    return "closed" if row["files"] else "missing"


def pending(night: date) -> list[date]:
    """Nights loaded since they were last published (the build has work if any)."""
    with connect(role="loader") as conn:
        return ledger.pending_nights(conn)


def transform(night: date, gate_next: bool = False) -> dict:
    """The dbt build; ``gate_next``: the gate runs next in this process, so its imports
    are done while dbt waits on the server (``quality.import_in_background``)."""
    return build(night, on_running=import_in_background if gate_next else None)


def quality_gate(night: date, run_id: str) -> dict:
    result = run_gate(night, run_id)
    if not result.passed:
        err = QualityGateFailed(result)
        record_blocked(night, run_id, str(err))
        raise err
    return result.summary()


def publish_marts(night: date, run_id: str) -> list[str]:
    return publish(night, run_id, get_settings())
