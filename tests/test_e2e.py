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
from dla_pipeline.night import run_night, summarize
from dla_pipeline.quality import QualityGateFailed, load_checks

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
    agrees with raw): an LAO whose earlier nights were far smaller warns, and its province;
    an LAO whose earlier nights were comparable does not. The LAOs are taken from provinces
    with no other history in the 62 days (other test modules share this database)."""
    from datetime import timedelta

    from dla_pipeline.quality import run_gate

    def fresh_laos(source: str) -> list[tuple[str, int, object, int]]:
        """Tonight's LAOs of ``source`` in provinces without ledger history before it,
        the largest first: (lao, rows, baht, load_id)."""
        return owner_conn.execute(
            "select f.lao_code, f.rows_loaded, f.amount_loaded, f.load_id from ops.files as f"
            " where f.source = %s and f.extract_date = %s and f.rows_loaded > 0"
            " and not exists (select 1 from ops.files as h where h.source = f.source"
            "   and substr(h.lao_code, 2, 2) = substr(f.lao_code, 2, 2) and h.rows_loaded > 0"
            "   and h.extract_date between %s::date - 62 and %s::date - 1)"
            " order by f.rows_loaded desc, f.lao_code",
            (source, NIGHT, NIGHT, NIGHT),
        ).fetchall()

    history = []  # (source, lao, load_id, rows, baht) on each of three earlier nights
    allowance = fresh_laos("allowance")
    spiking = allowance[0]
    steady = next(r for r in allowance if r[0][1:3] != spiking[0][1:3])  # another province
    history.append(("allowance", spiking[0], spiking[3], 20, spiking[2] / 4))  # far smaller
    history.append(("allowance", steady[0], steady[3], steady[1], steady[2] / 2))  # comparable
    tax = fresh_laos("tax")[0]
    history.append(("tax", tax[0], tax[3], 20, tax[2] / 4))
    owner_conn.cursor().executemany(
        "insert into ops.files (source, extract_date, file_name, lao_code, load_id, status,"
        " rows_in, rows_loaded, rows_quarantined, amount_loaded)"
        " values (%s, %s, 'spike-test-' || %s || '.csv', %s, %s, 'loaded', %s, %s, 0, %s)",
        [
            (source, NIGHT - timedelta(days=d), lao, lao, load_id, rows, rows, baht)
            for source, lao, load_id, rows, baht in history
            for d in (1, 5, 30)
        ],
    )
    try:
        steps.transform(NIGHT)  # the marts the gate also checks (a publish moved them)
        result = run_gate(NIGHT, "test-spike")
        warned = {
            (o.suite.split("[")[0], o.description.split(" (3x")[0]): o.observed
            for o in result.warnings
        }
        lao_spike = "an LAO sends far more rows or baht than its usual level"
        assert warned.get(("allowance_files_night", lao_spike)) == "1", warned  # not `steady`
        province = "a province's baht tonight is far above its usual level"
        assert warned.get(("allowance_files_night", province)) == "1", warned
        tax_spike = "an LAO collects far more than its usual level"
        assert warned.get(("tax_files_night", tax_spike)) == "1", warned
        assert result.passed  # warnings only
        # the night's summary counts the ledger suites' checks for their source
        suites = ("raw_allowance_night", "allowance_files_night", "allowance_reporting_night")
        expected = sum(len(c.expectations) for c in load_checks() if c.suite in suites)
        gate = summarize(NIGHT)["sources"]["allowance"]["quality_gate"]
        assert gate["checks"] == expected, (gate, expected)
    finally:
        owner_conn.execute("delete from ops.files where file_name like 'spike-test-%'")


@pytest.mark.e2e
def test_a_night_out_of_balance_is_not_published_by_a_later_night(
    published_night, warehouse_db, owner_conn
):
    """A night whose close found raw, the quarantine and its files out of balance (its
    load raised ConservationError) stays pending; the gate of any night that would publish
    it blocks and names it, whichever source it was."""
    owner_conn.execute(
        "update ops.nights set conservation_ok = false, checked_at = now()"
        " where source = 'vaccination' and extract_date = %s",
        (NIGHT,),
    )
    try:
        steps.transform(NIGHT)
        with pytest.raises(QualityGateFailed) as err:
            steps.quality_gate(NIGHT, "test-unbalanced")
        assert f"vaccination_reporting_night[{NIGHT}]" in str(err.value)
        assert "re-run the night's load" in str(err.value)
    finally:
        owner_conn.execute(
            "update ops.nights set conservation_ok = true where extract_date = %s", (NIGHT,)
        )
