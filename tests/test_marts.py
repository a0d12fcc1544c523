"""The marts: they reconcile with the extract files, and incremental nights give exactly
what a full refresh gives (re-sends included)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
import pytest
from conftest import reset_loaded_data

from dla_pipeline import steps
from dla_pipeline.config import SOURCES
from dla_pipeline.generator import generate_night
from dla_pipeline.ingest import load_night
from dla_pipeline.reconcile import reconcile
from dla_pipeline.transform import build

NIGHTS = [date(2026, 4, 2), date(2026, 4, 3), date(2026, 4, 13)]
MARTS = {
    "allowance_by_province": "province_code, payment_period, age_tier",
    "allowance_by_lao_period": "lao_code, payment_period, age_tier",
    "allowance_findings": "finding, person_key, lao_code, payment_period",  # restricted_build
    "revenue_by_lao_account": "lao_code, fiscal_year_be, account_code",
    "rabies_coverage_by_lao": "lao_code, fiscal_year_be",
    "rabies_coverage_by_province": "province_code, fiscal_year_be",
    "lao_scorecard": "lao_code, fiscal_year_be",
    "province_summary": "province_code, fiscal_year_be",
}


def _snapshot(conn) -> dict:
    return {
        m: conn.execute(
            f"select * from {'restricted_build' if m == 'allowance_findings' else 'marts_build'}.{m}"
            f" order by {k}"
        ).fetchall()
        for m, k in MARTS.items()
    }


def _resend_half(landing, night: date) -> str:
    """An LAO re-sends a corrected allowance file for an earlier night: half its rows."""
    folder = landing / "allowance" / night.isoformat()
    biggest = max((p for p in folder.glob("*.csv")), key=lambda p: p.stat().st_size)
    lines = biggest.read_bytes().splitlines(keepends=True)
    biggest.write_bytes(b"".join(lines[: 1 + (len(lines) - 1) // 2]))
    return biggest.stem


@pytest.fixture(scope="module")
def built(warehouse_db):
    landing = Path(warehouse_db["LANDING_DIR"])
    reset_loaded_data(warehouse_db["WAREHOUSE_URL"], landing)
    for night in NIGHTS:
        generate_night(night, laos=90, seed=11, bad_fraction=0.02, send_rate=0.9)
    for i, night in enumerate(NIGHTS):
        for source in SOURCES:
            load_night(source, night)
        build(night, full_refresh=(i == 0))
    _resend_half(landing, NIGHTS[0])  # arrives after the night was built
    load_night("allowance", NIGHTS[0])
    build(NIGHTS[-1])
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"]) as conn:
        incremental = _snapshot(conn)
    steps.quality_gate(NIGHTS[-1], "marts-test")
    steps.publish_marts(NIGHTS[-1], "marts-test")
    return incremental


def test_marts_reconcile_with_the_extract_files(built):
    # allowance total per province and rabies coverage per province, from the files
    lines = reconcile(NIGHTS, schema="marts")
    assert "match the extract files exactly" in lines[0]


def test_incremental_nights_equal_a_full_refresh(built, warehouse_db):
    build(NIGHTS[-1], full_refresh=True)
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"]) as conn:
        full = _snapshot(conn)
    for mart in MARTS:
        assert built[mart] == full[mart], f"{mart} differs between incremental and full refresh"
    assert all(
        built[m]
        for m in (
            "allowance_by_province",
            "revenue_by_lao_account",
            "lao_scorecard",
            "province_summary",
        )
    )


def test_scorecard_groups_and_followup(built, analyst_conn):
    groups = dict(
        analyst_conn.execute(
            "select performance_group, count(*) from marts.lao_scorecard group by 1"
        ).fetchall()
    )
    assert set(groups) <= {"Platinum", "Gold", "Silver", "Bronze"} and sum(groups.values()) > 0
    reported = {
        r[0]
        for r in analyst_conn.execute(
            "select lao_code from marts.rabies_coverage_by_lao where fiscal_year_be = 2569"
        )
    }
    followup = {r[0] for r in analyst_conn.execute("select lao_code from marts.rabies_followup")}
    assert reported and followup and not (reported & followup)
    assert "PAO" not in {
        r[0] for r in analyst_conn.execute("select distinct lao_type from marts.rabies_followup")
    }


def test_revenue_compares_with_the_previous_fiscal_year(built, analyst_conn):
    rows = analyst_conn.execute(
        "select fiscal_year_be, as_of_date, sum(amount_ytd), sum(amount_prev_ytd)"
        " from marts.revenue_by_lao_account group by 1, 2"
    ).fetchall()
    assert rows and rows[0][0] == 2569 and rows[0][1] == NIGHTS[-1]
    assert rows[0][2] > 0 and rows[0][3] == 0  # no FY2568 data was loaded
