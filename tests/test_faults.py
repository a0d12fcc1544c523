"""Faults: a night killed at any step, the server crashing during a load, two runs of
the same night at once. After a rerun, raw, ops, facts and marts equal a clean run of
the same landing folder (row counts and a checksum of every stable column), and the
rerun says what happened to the interrupted one."""

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
from conftest import reset_loaded_data

from dla_pipeline import warehouse
from dla_pipeline.generator import generate_night

NIGHT = date(2026, 11, 5)
DLA = str(Path(sys.executable).with_name("dla"))

# table -> the columns that must be equal between two runs (no load ids or timestamps)
STABLE = {
    "raw.allowance_payments": "lao_code, extract_date, source_file, file_sha256, row_no, person_key, amount, status",
    "raw.tax_receipts": "lao_code, extract_date, source_file, row_no, receipt_no, taxpayer_key, amount, status",
    "raw.vaccination_reports": "lao_code, extract_date, source_file, row_no, village_no, species, surveyed, vaccinated",
    "ops.files": "source, extract_date, file_name, lao_code, sha256, status, reason_code, rows_in, rows_loaded, rows_quarantined",
    "ops.quarantine": "source, file_name, row_no, field, reason_code, reason, raw_line",
    "ops.nights": "source, extract_date, files, files_rejected, laos_reporting, rows_in, rows_loaded, rows_quarantined, conservation_ok",
    "ops.submissions": "source, extract_date, lao_code, status, file_name",
    "core.fct_allowance_payments": "person_key, lao_code, extract_date, payment_period, amount, status, age_tier",
    "core.agg_allowance_lao_period": "lao_code, payment_period, age_tier, recipients, amount_paid",
    "core.fct_tax_receipts": "lao_code, fiscal_year_be, receipt_no, net_amount",
    "core.fct_vaccination_reports": "lao_code, village_no, species, fiscal_year_be, surveyed, vaccinated",
    "marts.allowance_by_province": "*",
    "marts.allowance_by_lao_period": "*",
    "restricted.allowance_findings": "*",
    "marts.revenue_by_lao_account": "*",
    "marts.rabies_coverage_by_lao": "*",
    "marts.lao_scorecard": "*",
    "marts.province_summary": "*",
    "marts.reporting_compliance": "*",
    "marts.published_nights": "extract_date",
}


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    out = {}
    with psycopg.connect(url) as conn:
        for table, cols in STABLE.items():
            out[table] = conn.execute(
                f"select count(*), md5(coalesce(string_agg(r::text, '|' order by r::text), ''))"
                f" from (select {cols} from {table}) as r"
            ).fetchone()
    return out


def fresh(url: str, landing: Path) -> None:
    """An empty warehouse over the same landing folder (facts rebuild from scratch)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "truncate raw.allowance_payments, raw.tax_receipts, raw.vaccination_reports,"
            " raw.allowance_payments_retracted, raw.tax_receipts_retracted,"
            " raw.vaccination_reports_retracted, ops.files, ops.quarantine, ops.file_loads,"
            " ops.nights, ops.submissions, ops.lao_night_changes, ops.landing_issues, ops.runs,"
            " ops.quality_results, ops.publish_log, marts.published_nights"
        )
        if conn.execute("select to_regclass('core.model_watermarks')").fetchone()[0]:
            conn.execute("truncate core.model_watermarks")


def night(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [DLA, "night", "--date", NIGHT.isoformat(), "--runner", "direct"],
        env=env,
        stdout=log.open("w"),  # a file, not a pipe: a full pipe would stall the run
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, killed as a whole
    )


def wait_for(url: str, sql: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if conn.execute(sql).fetchone()[0]:
                return
            time.sleep(0.02)
    pytest.fail(f"never reached: {sql}")


PHASE = (
    "select count(*) from ops.runs where status = 'running'"
    " and steps -> '{}' ->> 'status' = 'running'"
)
COPYING = (
    "select count(*) from pg_stat_activity where state = 'active'"
    " and datname = current_database() and query ilike 'copy raw.allowance_payments%'"
)


@pytest.fixture(scope="module")
def clean_run(warehouse_db):
    landing = Path(warehouse_db["LANDING_DIR"])
    reset_loaded_data(warehouse_db["WAREHOUSE_URL"], landing)
    generate_night(NIGHT, laos=40, seed=3, bad_fraction=0.05)
    # one big file so that a kill or a crash can land inside its COPY
    big = landing / "allowance" / NIGHT.isoformat() / "6110111.csv"
    from dla_pipeline.generator import make_thai_id

    rows = [
        f"{make_thai_id(f'3{i:011d}')},12/03/2490,11/2569,800,05/11/2569,cash,paid"
        for i in range(150_000)
    ]
    big.write_text(
        "citizen_id,birth_date,payment_period,amount,paid_on,channel,status\n"
        + "\n".join(rows)
        + "\n"
    )
    env = {**os.environ, **warehouse_db}
    fresh(warehouse_db["WAREHOUSE_URL"], landing)
    out = subprocess.run(
        [DLA, "night", "--date", NIGHT.isoformat(), "--runner", "direct"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return env, fingerprint(warehouse_db["WAREHOUSE_URL"])


def kill_then_rerun(env: dict, url: str, trigger: str, log: Path) -> str:
    fresh(url, Path(env["LANDING_DIR"]))
    proc = night(env, log)
    try:
        wait_for(url, trigger)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    rerun = subprocess.run(
        [DLA, "night", "--date", NIGHT.isoformat(), "--runner", "direct"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    return rerun.stdout


@pytest.mark.parametrize(
    ("where", "trigger"),
    [
        ("copy", COPYING),
        ("dbt", PHASE.format("dbt")),
        ("gate", PHASE.format("quality_gate")),
        ("publish", PHASE.format("publish")),
    ],
)
def test_a_night_killed_at_any_step_reruns_to_a_clean_state(
    clean_run, warehouse_db, where, trigger, tmp_path
):
    env, expected = clean_run
    out = kill_then_rerun(env, warehouse_db["WAREHOUSE_URL"], trigger, tmp_path / "killed.log")
    assert "was interrupted during step" in out, out[-2000:]
    got = fingerprint(warehouse_db["WAREHOUSE_URL"])
    diff = {t: (got[t], expected[t]) for t in STABLE if got[t] != expected[t]}
    assert not diff, f"killed during {where}: differs from a clean run: {diff}"


def test_a_server_crash_during_a_load_then_a_rerun(clean_run, warehouse_db, tmp_path):
    env, expected = clean_run
    url = warehouse_db["WAREHOUSE_URL"]
    fresh(url, Path(env["LANDING_DIR"]))
    emb = warehouse.Embedded(warehouse.project_root())
    proc = night(env, tmp_path / "crashed.log")
    try:
        wait_for(url, COPYING)
        emb.stop(mode="immediate")
    finally:
        proc.wait(120)
        warehouse.start_embedded()
    assert proc.returncode != 0
    rerun = subprocess.run(
        [DLA, "night", "--date", NIGHT.isoformat(), "--runner", "direct"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert "was interrupted" in rerun.stdout
    assert fingerprint(url) == expected


def test_two_runs_of_the_same_night_at_once(clean_run, warehouse_db, tmp_path):
    env, expected = clean_run
    url = warehouse_db["WAREHOUSE_URL"]
    fresh(url, Path(env["LANDING_DIR"]))
    first, second = night(env, tmp_path / "1.log"), night(env, tmp_path / "2.log")
    first.wait(600)
    second.wait(600)
    out1, out2 = (tmp_path / "1.log").read_text(), (tmp_path / "2.log").read_text()
    assert first.returncode == 0 and second.returncode == 0, out1[-2000:] + out2[-2000:]
    assert "is in progress" in out1 + out2 and "waiting for it" in out1 + out2
    assert fingerprint(url) == expected


def test_a_killed_clients_statement_is_cancelled_and_its_locks_freed(warehouse_db):
    """A run killed mid-statement (kill -9: no goodbye to the server) frees its locks
    within seconds, not when its statement would have ended: the server checks for a
    dead client during a statement (roles.server_settings)."""
    url, key = warehouse_db["WAREHOUSE_URL"], 7_202_999
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, psycopg\n"
            "c = psycopg.connect(sys.argv[1], autocommit=True)\n"
            f"c.execute('select pg_advisory_lock({key})')\n"
            "print('locked', flush=True)\n"
            "c.execute('select pg_sleep(900)')\n",
            url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        wait_for(url, "select count(*) from pg_stat_activity where query = 'select pg_sleep(900)'")
    finally:
        holder.kill()
        holder.wait(30)
    # well inside the 900 s the statement would have slept had the server not checked
    wait_for(url, f"select pg_try_advisory_lock({key})", timeout=60)
    with psycopg.connect(url) as conn:
        left = conn.execute(
            "select count(*) from pg_stat_activity where query = 'select pg_sleep(900)'"
        ).fetchone()[0]
    assert left == 0
