"""The pipeline's steps as plain functions: Airflow tasks and the direct runner call these."""

from __future__ import annotations

import logging
import os
from datetime import date

from .config import get_settings
from .db import migrate
from .ingest import close_night, discover, load_batch, plan_batches
from .publish import publish, record_blocked
from .quality import QualityGateFailed, run_gate
from .transform import build

log = logging.getLogger(__name__)


def ingest_plan(source: str, night: date) -> list[list[str]]:
    """Files of the night grouped into batches (few task instances, not one per file)."""
    migrate()
    names = discover(source, night)
    batches = plan_batches(names, int(os.environ.get("INGEST_BATCHES", "4")))
    log.info("%s %s: %d files in %d batches", source, night, len(names), len(batches))
    return batches


def ingest_batch(source: str, night: date, names: list[str], run_id: str) -> dict:
    return load_batch(source, night, names, run_id)


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
