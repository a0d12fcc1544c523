"""A backfill (every night of the range loaded, then one dbt build, one gate and one
publish) publishes exactly what running the same nights one by one publishes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from conftest import mart_snapshot, reset_loaded_data

from dla_pipeline.backfill import backfill_direct
from dla_pipeline.db import connect
from dla_pipeline.generator import generate_night
from dla_pipeline.night import run_night

NIGHTS = [date(2026, 6, 1), date(2026, 6, 2), date(2026, 6, 3)]


def _fresh_nights(warehouse_db) -> None:
    """The same files every time (deterministic by seed), nothing loaded yet."""
    reset_loaded_data(warehouse_db["WAREHOUSE_URL"], Path(warehouse_db["LANDING_DIR"]))
    for i, night in enumerate(NIGHTS):
        sources = ("allowance", "tax") if i == 1 else ("allowance", "tax", "vaccination")
        generate_night(
            night, laos=40, seed=41 + i, bad_fraction=0.02, send_rate=0.9, sources=sources
        )


def _published() -> tuple[dict, set]:
    with connect(role="publisher") as conn:
        nights = {
            r[0]
            for r in conn.execute(
                "select extract_date from marts.published_nights where extract_date = any(%s)",
                (NIGHTS,),
            )
        }
        return mart_snapshot(conn, published=True), nights


@pytest.fixture(scope="module")
def night_by_night(warehouse_db):
    _fresh_nights(warehouse_db)
    for night in NIGHTS:
        run_night(night, runner="direct")
    return _published()


def test_a_backfill_publishes_what_the_nights_one_by_one_publish(night_by_night, warehouse_db):
    one_by_one, nights_one_by_one = night_by_night
    assert nights_one_by_one == set(NIGHTS)
    assert all(one_by_one[m] for m in ("allowance_by_province", "revenue_by_lao_account"))
    _fresh_nights(warehouse_db)
    with connect(role="publisher", autocommit=True) as conn:  # forget the first publication
        conn.execute("delete from marts.published_nights where extract_date = any(%s)", (NIGHTS,))
    result = backfill_direct(NIGHTS[0], NIGHTS[-1])
    assert result["rows_in"] > 0
    with connect(role="loader") as conn:  # its run ends, it is not left running
        status = conn.execute(
            "select status, finished_at is not null from ops.runs where run_id = %s",
            (result["run_id"],),
        ).fetchone()
    assert status == ("succeeded", True), status
    backfilled, nights_backfilled = _published()
    assert nights_backfilled == set(NIGHTS)
    for mart, rows in one_by_one.items():
        assert backfilled[mart] == rows, f"{mart}: the backfill differs from night-by-night runs"
