"""A backfill (every night of the range loaded, then one dbt build, one gate and one
publish) publishes exactly what running the same nights one by one publishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import psycopg
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


def _until(what, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, f"never happened: {what.__doc__}"
        time.sleep(0.05)


def test_a_night_waits_for_a_backfill_over_it_and_reports_it_killed(warehouse_db, tmp_path):
    """A backfill holds its nights: a night run of one of them waits for it, naming it;
    when the backfill is killed, that night's run says so, marks it interrupted (not left
    running), completes its night and says how to finish the rest of the range."""
    _fresh_nights(warehouse_db)
    env = {**os.environ, **warehouse_db}
    dla = str(Path(sys.executable).with_name("dla"))
    url = warehouse_db["WAREHOUSE_URL"]
    span = ["--from", str(NIGHTS[0]), "--to", str(NIGHTS[-1]), "--runner", "direct"]
    backfill = subprocess.Popen(
        [dla, "backfill", *span],
        env=env,
        stdout=(tmp_path / "backfill.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group (dbt too), killed as a whole
    )
    with psycopg.connect(url, autocommit=True) as conn:

        def building() -> bool:
            """the backfill's dbt build running"""
            return conn.execute(
                "select count(*) from ops.runs where kind = 'backfill' and status = 'running'"
                " and steps -> 'dbt' ->> 'status' = 'running'"
            ).fetchone()[0]

        _until(building)
    log = tmp_path / "night.log"
    night = subprocess.Popen(
        [dla, "night", "--date", str(NIGHTS[0]), "--runner", "direct"],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )

    def waiting() -> bool:
        """the night run waiting for the backfill"""
        return "is in progress: run backfill__" in log.read_text()

    _until(waiting, 60)
    os.killpg(backfill.pid, signal.SIGKILL)
    backfill.wait(30)
    assert night.wait(600) == 0, log.read_text()[-3000:]
    out = log.read_text()
    assert f"another run of {NIGHTS[0]:%Y-%m} is in progress: run backfill__{NIGHTS[0]}" in out
    assert f"previous run backfill__{NIGHTS[0]}__{NIGHTS[-1]}" in out
    assert "was interrupted during step dbt" in out
    # the night run did its own night: it says how to finish the rest of the range
    assert f"make backfill FROM={NIGHTS[0]} TO={NIGHTS[-1]}" in out
    with connect(role="loader") as conn:
        status = conn.execute(
            "select status, finished_at is not null from ops.runs where kind = 'backfill'"
            " order by started_at desc limit 1"
        ).fetchone()
    assert status == ("interrupted", True)


def test_a_backfill_given_backwards_is_refused_with_what_to_type(capsys):
    from dla_pipeline.cli import main

    umask = os.umask(0o077)  # main() sets it for the process: restored for the other tests
    try:
        backwards = main(["backfill", "--from", "2026-06-03", "--to", "2026-06-01"])
    finally:
        os.umask(umask)
    said = capsys.readouterr().err
    assert backwards == 2 and "FROM=2026-06-01 TO=2026-06-03" in said, said


def test_a_long_backfill_holds_a_lock_a_month_not_a_night(warehouse_db):
    """The server's lock table is shared and bounded (6,400 by default): ten years of
    nights hold 131 month locks, and a night run in those months cannot start beside it."""
    from dla_pipeline import ledger
    from dla_pipeline.night import RunLock

    lock = RunLock(date(2016, 1, 1), date(2026, 11, 30))
    try:
        assert lock.acquire() == []
        held = lock.conn.execute(
            "select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()"
        ).fetchone()[0]
        assert held == 131
        night = RunLock(date(2020, 2, 29))
        try:
            assert not ledger.try_run_lock(night.conn, "month", date(2020, 2, 29), shared=True)
            assert ledger.try_run_lock(night.conn, "month", date(2026, 12, 1), shared=True)
        finally:
            night.close()
    finally:
        lock.close()
