"""The pipeline's steps as plain functions: Airflow tasks and the direct runner call these."""

from __future__ import annotations

import logging
from datetime import date

from .config import get_settings
from .db import migrate
from .ingest import close_night, load_batch, plan_batches, scan_night
from .publish import publish, record_blocked
from .quality import QualityGateFailed, run_gate
from .transform import build

log = logging.getLogger(__name__)


def ingest_plan(source: str, night: date) -> list[list[str]]:
    """The night's LAO-nights grouped into batches (few task instances, not one per file)."""
    settings = get_settings()
    migrate(settings)
    scan = scan_night(source, night, settings)
    batches = plan_batches(scan, settings.ingest_batches)
    log.info(
        "%s %s: %d entries in %d batches (%d upload(s) in progress, %d landing issue(s))",
        source,
        night,
        len(scan.entries),
        len(batches),
        len(scan.uploads_in_progress),
        len(scan.issues),
    )
    return batches


def ingest_batch(source: str, night: date, units: list[str], run_id: str) -> dict:
    return load_batch(source, night, units, run_id)


def ingest_close(source: str, night: date) -> dict:
    return close_night(source, night)


def transform(night: date) -> dict:
    return build(night)


def quality_gate(night: date, run_id: str) -> dict:
    result = run_gate(night, run_id)
    if not result.passed:
        err = QualityGateFailed(result)
        record_blocked(night, run_id, str(err))
        raise err
    return result.summary()


def publish_marts(night: date, run_id: str) -> list[str]:
    return publish(night, run_id, get_settings())
