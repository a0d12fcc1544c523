"""End to end: a generated night through the real DAGs, read back as the analyst;
and a night that fails a blocking expectation is not published."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import psycopg
import pytest
from conftest import Inbox

from dla_pipeline import builds, steps
from dla_pipeline.contract import ALLOWANCE
from dla_pipeline.encoding import SNIFF_BYTES, sniff_encoding
from dla_pipeline.generator import generate_night, make_thai_id
from dla_pipeline.ingest import load_night
from dla_pipeline.night import run_night
from dla_pipeline.quality import QualityGateFailed

NIGHT = date(2026, 11, 5)
MART = (
    "select lao_code, payment_period, age_tier, recipients, amount_paid"
    " from marts.allowance_by_lao_period order by 1, 2, 3"
)


@pytest.fixture(scope="module")
def published_night(warehouse_db):
    generate_night(NIGHT, laos=60, seed=7, bad_fraction=0.03)
    return run_night(NIGHT, runner="direct")


@pytest.mark.e2e
def test_night_is_published_and_readable_by_analyst(published_night, warehouse_db):
    s = published_night
    assert s["ok"], json.dumps(s["steps"], indent=1)
    assert all(step["status"] == "ok" for step in s["steps"].values())
    for source in ("allowance", "tax", "vaccination"):
        v = s["sources"][source]
        assert v["files"] > 0 and v["conservation_ok"]
        assert v["rows_in"] == v["rows_loaded"] + v["rows_quarantined"]
        assert v["rows_quarantined"] > 0  # the generator damaged some rows
    assert s["quality_gate"]["status"] == "passed"
    assert s["marts_published"]["allowance_by_lao_period"] > 0
    written = json.loads((Path(warehouse_db["RUNS_DIR"]) / f"{NIGHT}.json").read_text())
    assert set(written["sources"]["allowance"]) >= {
        "files",
        "rows_in",
        "rows_loaded",
        "rows_quarantined",
        "quality_gate",
    }
    with psycopg.connect(warehouse_db["ANALYST_URL"]) as conn:
        n = conn.execute("select count(*) from marts.allowance_by_lao_period").fetchone()[0]
        assert n == s["marts_published"]["allowance_by_lao_period"]
        paid = conn.execute(
            "select sum(amount_paid) from marts.allowance_by_lao_period"
        ).fetchone()[0]
        assert paid > 0
        for hidden in (
            "raw.allowance_payments",
            "staging.stg_allowance__payments",
            "marts_build.dim_lao",
            "ops.quarantine",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select 1 from {hidden} limit 1")
            conn.rollback()


@pytest.mark.e2e
def test_blocking_failure_keeps_analyst_view_and_names_the_expectation(
    published_night, warehouse_db, owner_conn, inbox
):
    with psycopg.connect(warehouse_db["ANALYST_URL"]) as conn:
        before = conn.execute(MART).fetchall()
    # an LAO re-sends its file with an absurd amount: it parses, the raw suite blocks it
    folder = Path(warehouse_db["LANDING_DIR"]) / "allowance" / NIGHT.isoformat()
    target = max(folder.glob("*.csv"), key=lambda p: p.stat().st_size)
    original = target.read_bytes()
    lines = original.splitlines(keepends=True)
    encoding = sniff_encoding(original[:SNIFF_BYTES])  # the loader's own sniffing
    header = lines[0].decode(encoding).lstrip("\ufeff").strip()
    values = {
        "citizen_id": make_thai_id("399999999999"),
        "birth_date": "01/01/2494",
        "payment_period": "11/2569",
        "amount": "95000",
        "paid_on": "05/11/2569",
        "channel": "cash",
        "status": "paid",
    }
    line = ",".join(values[ALLOWANCE.canonical(c)] for c in header.split(","))
    target.write_bytes(original + (line + "\r\n").encode(encoding.replace("-sig", "")))
    load_night("allowance", NIGHT)
    steps.transform(NIGHT)
    with pytest.raises(QualityGateFailed) as err:  # the task of build_marts, with its alert
        builds.run_step("quality_gate", {"night": NIGHT.isoformat()}, {"run_id": "test-blocked"})
    assert "raw_allowance_night" in str(err.value)
    assert "expect_column_values_to_be_between on amount" in str(err.value)
    [mail] = inbox.messages
    body = Inbox.body(mail)
    assert f"night {NIGHT}" in mail["Subject"] and "NOT published" in mail["Subject"]
    assert "raw_allowance_night" in body and "amount" in body and "observed" in body
    assert "What to do" in body and "re-send" in body
    with psycopg.connect(warehouse_db["ANALYST_URL"]) as conn:
        assert conn.execute(MART).fetchall() == before
    status, reason = owner_conn.execute(
        "select status, reason from ops.publish_log where run_id='test-blocked'"
    ).fetchone()
    assert status == "blocked" and "amount" in reason
    # the LAO re-sends the corrected file: the next run publishes, and the bad line is gone
    target.write_bytes(original)
    load_night("allowance", NIGHT)
    steps.transform(NIGHT)
    steps.quality_gate(NIGHT, "test-fixed")
    assert "allowance_by_lao_period" in steps.publish_marts(NIGHT, "test-fixed")
    with psycopg.connect(warehouse_db["ANALYST_URL"]) as conn:
        assert conn.execute(MART).fetchall() == before


@pytest.mark.e2e
def test_a_sharp_drop_in_reporting_warns_publishes_and_tells_people(
    published_night, warehouse_db, owner_conn, inbox
):
    """Tonight's LAOs are far fewer than usual (not a collapse): published, one message."""
    from datetime import timedelta

    sending = published_night["sources"]["allowance"]["laos_reporting"]
    history = [(NIGHT - timedelta(days=d), 3 * sending) for d in range(1, 8)]
    with owner_conn.transaction():
        for night, laos in history:
            owner_conn.execute(
                "insert into ops.nights (source, extract_date, files, files_rejected, laos_reporting,"
                " rows_in, rows_loaded, rows_quarantined, conservation_ok)"
                " values ('allowance', %s, %s, 0, %s, 0, 0, 0, true)",
                (night, laos, laos),
            )
    try:
        steps.transform(NIGHT)
        steps.quality_gate(NIGHT, "test-drop")
        steps.publish_marts(NIGHT, "test-drop")
        assert builds.report({"night": NIGHT.isoformat()}, {"run_id": "test-drop"})["published"]
        [mail] = inbox.messages
        assert f"night {NIGHT}" in mail["Subject"] and "reporting dropped" in mail["Subject"]
        body = Inbox.body(mail)
        assert "sudden drop in reporting LAOs" in body and "What to do" in body
    finally:
        owner_conn.execute(
            "delete from ops.nights where source='allowance' and extract_date = any(%s)",
            ([n for n, _ in history],),
        )


@pytest.mark.e2e
def test_an_lao_far_above_its_usual_level_warns_from_the_ledger(
    published_night, warehouse_db, owner_conn
):
    """The spike checks read tonight and its history from the ledger (ops.files, which
    agrees with raw): the LAO whose earlier nights were small warns, alone (the others have
    no history), and so does its province."""
    from datetime import timedelta

    from dla_pipeline.quality import run_gate

    for source in ("allowance", "tax"):
        lao, amt, load_id = owner_conn.execute(
            "select lao_code, amount_loaded, load_id from ops.files"
            " where source = %s and extract_date = %s and rows_loaded > 0"
            " order by rows_loaded desc, lao_code limit 1",
            (source, NIGHT),
        ).fetchone()
        # three earlier nights of 20 rows and a quarter of tonight's baht each
        history = [(NIGHT - timedelta(days=d), lao, load_id, amt / 4) for d in (1, 5, 30)]
        owner_conn.cursor().executemany(
            "insert into ops.files (source, extract_date, file_name, lao_code, load_id, status,"
            " rows_in, rows_loaded, rows_quarantined, amount_loaded)"
            " values (%s, %s, 'spike-test-' || %s || '.csv', %s, %s, 'loaded', 20, 20, 0, %s)",
            [(source, night, lao, lao, load_id, baht) for night, lao, load_id, baht in history],
        )
    try:
        steps.transform(NIGHT)  # the marts the gate also checks (a publish moved them)
        result = run_gate(NIGHT, "test-spike")
        warned = {o.description: o.observed for o in result.warnings}
        lao_spike = "an LAO sends far more allowance rows or baht than its usual level"
        tax_spike = "an LAO collects far more tax than its usual level"
        province = "a province's baht tonight is far above its usual level"
        by_start = {d.split(" (3x")[0]: observed for d, observed in warned.items()}
        assert by_start.get(lao_spike) == "1", warned  # that LAO alone
        assert by_start.get(tax_spike) == "1", warned  # that LAO alone
        assert by_start.get(province) == "1", warned  # its province alone
        assert result.passed  # warnings only
    finally:
        owner_conn.execute("delete from ops.files where file_name like 'spike-test-%'")
