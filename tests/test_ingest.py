"""Loading against the real server: every bad class quarantined, reruns idempotent,
re-sends replace, crashes leave nothing half-visible."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date

import pytest
from conftest import reset_loaded_data, write_extract

from dla_pipeline.generator import make_thai_id
from dla_pipeline.ingest import close_night, forget_night, load_batch, load_night

NIGHT = "2026-11-05"
D = date.fromisoformat(NIGHT)
LAO = "6110111"  # registry codes (SAOs in Samut Prakan)
LAO2 = "6110112"
CID = make_thai_id("310050012345")
CID2 = make_thai_id("310050012346")
HEADER_EN = "citizen_id,birth_date,payment_period,amount,paid_on,channel,status"
HEADER_TH = "เลขประจำตัวประชาชน,วันเกิด,งวด,จำนวนเงิน,วันที่จ่าย,ช่องทาง,สถานะ"
GOOD = f"{CID},12/03/2490,11/2569,800,05/11/2569,bank_transfer,paid"
GOOD2 = f"{CID2},00/00/2495,11/2569,700.00,5 พ.ย. 2569,cash,paid"
_LOAD_BATCH = load_batch


def _counts(conn, source="allowance"):
    table = {
        "allowance": "allowance_payments",
        "tax": "tax_receipts",
        "vaccination": "vaccination_reports",
    }[source]
    raw = conn.execute(f"select count(*) from raw.{table} where extract_date=%s", (D,)).fetchone()[
        0
    ]
    q = conn.execute(
        "select count(*) from ops.quarantine where source=%s and extract_date=%s", (source, D)
    ).fetchone()[0]
    return raw, q


@pytest.fixture(autouse=True)
def clean(warehouse_db, landing):
    reset_loaded_data(warehouse_db["WAREHOUSE_URL"], landing)


ROW_CASES = {
    # name: (row text, field, reason fragment)
    "bad_checksum": (
        f"{CID[:12]}{(int(CID[12]) + 1) % 10},12/03/2490,11/2569,800,05/11/2569,cash,paid",
        "citizen_id",
        "checksum",
    ),
    "bad_date": (f"{CID2},12/03/2490,11/2569,800,1-ม.ค.,cash,paid", "paid_on", "unparseable date"),
    "impossible_date": (
        f"{CID2},31/02/2490,11/2569,800,05/11/2569,cash,paid",
        "birth_date",
        "impossible",
    ),
    "bad_amount": (
        f"{CID2},12/03/2490,11/2569,8o0,05/11/2569,cash,paid",
        "amount",
        "unparseable amount",
    ),
    "negative": (f"{CID2},12/03/2490,11/2569,-800,05/11/2569,cash,paid", "amount", "negative"),
    "zero": (f"{CID2},12/03/2490,11/2569,0,05/11/2569,cash,paid", "amount", "zero"),
    "future": (f"{CID2},12/03/2490,11/2569,800,06/12/2569,cash,paid", "paid_on", "future"),
    "column_count": (f"{CID2},12/03/2490,11/2569,800", None, "wrong column count"),
    "unknown_status": (
        f"{CID2},12/03/2490,11/2569,800,05/11/2569,cash,maybe",
        "status",
        "unknown status",
    ),
}


def test_every_bad_row_class_is_quarantined_and_the_rest_loads(owner_conn, landing):
    lines = [HEADER_EN, GOOD, "", *(c[0] for c in ROW_CASES.values()), GOOD, GOOD2]
    write_extract(landing, "allowance", NIGHT, f"{LAO}.csv", "\r\n".join(lines) + "\r\n")
    s = load_night("allowance", D)
    # GOOD twice: the second is a duplicate row
    assert s["rows_in"] == 2 + len(ROW_CASES) + 1
    assert s["rows_loaded"] == 2
    assert s["rows_quarantined"] == len(ROW_CASES) + 1
    assert s["conservation_ok"]
    got = owner_conn.execute(
        "select row_no, field, reason, raw_line from ops.quarantine order by row_no"
    ).fetchall()
    reasons = " | ".join(r[2] for r in got)
    for name, (_row, field, fragment) in ROW_CASES.items():
        match = [g for g in got if fragment in g[2]]
        assert match, f"{name}: no quarantine row with {fragment!r} in {reasons}"
        assert match[0][1] == field, name
    dup = [g for g in got if "duplicate row" in g[2]]
    # the ID in a quarantined line is masked (a token, not the ID)
    assert dup and dup[0][3] == "[id:" + dup[0][3][4:28] + "]" + GOOD[13:] and "line 2" in dup[0][2]
    assert CID not in " ".join(str(g) for g in got)
    # row numbers are physical lines (header = 1, the empty line 3 is skipped)
    assert [g[0] for g in got if "checksum" in g[2]] == [4]


def test_pii_is_pseudonymised_before_staging(owner_conn, landing):
    write_extract(landing, "allowance", NIGHT, f"{LAO}.csv", f"{HEADER_EN}\n{GOOD}\n")
    load_night("allowance", D)
    clear, key = owner_conn.execute(
        "select citizen_id, person_key from raw.allowance_payments"
    ).fetchone()
    assert clear == CID and len(key) == 64 and CID not in key


def _file_classes(landing):
    good = f"{HEADER_EN}\n{GOOD}\n"
    cases = {
        "9999999.csv": (good.encode(), "unknown LAO code"),
        "6110205.csv": (
            b"birth_date,payment_period,amount,paid_on,channel,status\n"
            b"12/03/2490,11/2569,800,05/11/2569,cash,paid\n",
            "missing required column",
        ),
        "6110206.csv": (b"PK\x03\x04\x00\x00\x01\x02binary", "binary"),
        "6110207.csv": (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "HTML"),
        "6110208.csv": (b"", "empty"),
        "export (1).csv": (good.encode(), "layout"),
        "sub/6110209.csv": (good.encode(), "layout"),
        "6110210.xlsx": (good.encode(), "layout"),
    }
    for name, (data, _) in cases.items():
        write_extract(landing, "allowance", NIGHT, name, data)
    return cases


def test_every_bad_file_class_is_recorded_and_quarantined(owner_conn, landing):
    cases = _file_classes(landing)
    write_extract(landing, "allowance", NIGHT, f"{LAO}.csv", f"{HEADER_EN}\n{GOOD}\n")
    write_extract(landing, "allowance", NIGHT, f"{LAO2}.csv.part", "half an upload")
    s = load_night("allowance", D)
    assert s["conservation_ok"] and s["rows_loaded"] == 1
    files = dict(
        owner_conn.execute(
            "select file_name, error from ops.files where status='rejected'"
        ).fetchall()
    )
    # the subfolder itself is an entry too (not a regular file), beside the file inside it
    assert set(files) == set(cases) | {"sub"}, "every bad entry is recorded, the .part is not"
    for name, (_data, fragment) in cases.items():
        assert fragment.lower() in files[name].lower(), (name, files[name])
        n = owner_conn.execute(
            "select count(*) from ops.quarantine where file_name=%s", (name,)
        ).fetchone()[0]
        assert n >= 1, f"{name} has no quarantine row"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp874"])
def test_encodings_thai_headers_any_order_and_spaces(owner_conn, landing, encoding):
    cols = HEADER_TH.split(",")
    order = [6, 0, 3, 1, 2, 5, 4]
    header = ",".join(f" {cols[i]} " for i in order)
    vals = ["จ่ายแล้ว", CID, "๘๐๐ บาท", "12 มี.ค. 2490", "๑๑/๒๕๖๙", "โอนเข้าบัญชี", "05/11/2569"]
    text = f"{header}\r\n" + ",".join(vals) + "\r\n"
    write_extract(landing, "allowance", NIGHT, f"{LAO}.csv", text, encoding)
    s = load_night("allowance", D)
    assert (s["rows_loaded"], s["rows_quarantined"]) == (1, 0)
    row = owner_conn.execute(
        "select amount, birth_date, payment_period, channel, status from raw.allowance_payments"
    ).fetchone()
    assert row == (800, date(1947, 3, 12), date(2026, 11, 1), "bank_transfer", "paid")


def test_one_undecodable_line_does_not_cost_the_file(owner_conn, landing):
    data = f"{HEADER_EN}\n{GOOD}\n".encode() + b"\xff\xfe\xfa,broken\n" + f"{GOOD2}\n".encode()
    write_extract(landing, "allowance", NIGHT, f"{LAO}.csv", data)
    s = load_night("allowance", D)
    assert (s["rows_loaded"], s["rows_quarantined"]) == (2, 1)
    reason, raw = owner_conn.execute("select reason, raw_line from ops.quarantine").fetchone()
    assert "encoding" in reason and "\\xff" in raw


def test_schema_drift_is_kept_and_reported(owner_conn, landing):
    write_extract(
        landing, "allowance", NIGHT, f"{LAO}.csv", f"{HEADER_EN},remark\n{GOOD},โทรแจ้งแล้ว\n"
    )
    load_night("allowance", D)
    extra = owner_conn.execute("select extra from raw.allowance_payments").fetchone()[0]
    assert extra == {"remark": "โทรแจ้งแล้ว"}
    drift = owner_conn.execute("select extra_columns from ops.files").fetchone()[0]
    assert drift == ["remark"]


def test_rerun_is_idempotent_and_resend_replaces(owner_conn, landing):
    write_extract(landing, "allowance", NIGHT, f"{LAO}.csv", f"{HEADER_EN}\n{GOOD}\n{GOOD2}\n")
    write_extract(landing, "allowance", NIGHT, f"{LAO2}.csv", f"{HEADER_EN}\n{GOOD}\n")
    load_night("allowance", D)
    before = owner_conn.execute(
        "select lao_code, person_key, amount from raw.allowance_payments order by 1, 2"
    ).fetchall()
    s = load_night("allowance", D)  # same files again
    after = owner_conn.execute(
        "select lao_code, person_key, amount from raw.allowance_payments order by 1, 2"
    ).fetchall()
    assert before == after and s["rows_loaded"] == 3
    statuses = owner_conn.execute(
        "select status, count(*) from ops.file_loads group by 1 order by 1"
    ).fetchall()
    assert statuses == [("loaded", 2), ("unchanged", 2)]
    # the LAO re-sends a corrected file with one row: no duplicates, no leftovers
    write_extract(landing, "allowance", NIGHT, f"{LAO}.csv", f"{HEADER_EN}\n{GOOD2}\n")
    s = load_night("allowance", D)
    assert s["rows_loaded"] == 2 and s["conservation_ok"]
    rows = owner_conn.execute(
        "select lao_code, amount from raw.allowance_payments order by 1"
    ).fetchall()
    assert rows == [(LAO, 700), (LAO2, 800)]


def test_header_only_file_means_reported_nothing(owner_conn, landing):
    write_extract(landing, "allowance", NIGHT, f"{LAO}.csv", f"{HEADER_EN}\n")
    s = load_night("allowance", D)
    assert s["files"] == 1 and s["laos_reporting"] == 1 and s["rows_in"] == 0


def test_tax_cancellations_and_duplicate_receipts(owner_conn, landing):
    tid = make_thai_id("010555012345")
    head = "receipt_no,receipt_date,account_code,revenue_type,parcel_id,taxpayer_id,amount,fiscal_year,status"
    rows = [
        f'R1,01/11/2569,41100005,ภาษีที่ดินและสิ่งปลูกสร้าง,12/3,{tid},"1,500.00",2570,paid',
        f'R1,02/11/2569,41100005,ภาษีที่ดินและสิ่งปลูกสร้าง,12/3,{tid},"1,500.00",2570,cancelled',
        f"R1,03/11/2569,41100005,ภาษีที่ดินและสิ่งปลูกสร้าง,12/3,{tid},900,2570,paid",  # dup receipt
        f"R2,01/09/2569,41100003,ภาษีป้าย,,{tid},200,2570,paid",  # outside FY2570
        f"R3,01/11/2569,49999999,?,,{tid},200,2570,paid",  # unknown account
        f"R4,01/11/2569,41210008,ค่าขยะ,,{tid},60,2570,",  # status empty -> paid
    ]
    write_extract(landing, "tax", NIGHT, f"{LAO}.csv", "\n".join([head, *rows]) + "\n")
    s = load_night("tax", D)
    assert (s["rows_loaded"], s["rows_quarantined"]) == (3, 3)
    reasons = [
        r[0] for r in owner_conn.execute("select reason from ops.quarantine order by row_no")
    ]
    assert "duplicate receipt_no" in reasons[0]
    assert "outside fiscal year" in reasons[1]
    assert "unknown revenue account_code" in reasons[2]
    assert (
        owner_conn.execute(
            "select count(*) from raw.tax_receipts where status='cancelled'"
        ).fetchone()[0]
        == 1
    )


def test_vaccination_rules(owner_conn, landing):
    head = "หมู่ที่,ชนิดสัตว์,จำนวนสำรวจ,มีเจ้าของ,ไม่มีเจ้าของ,ฉีดวัคซีน,วันที่ฉีด,ปีงบประมาณ"
    rows = [
        "1,สุนัข,100,90,10,80,01/11/2569,2570",
        "2,แมว,50,40,5,10,01/11/2569,2570",  # owned + ownerless != surveyed
        "3,dog,50,45,5,60,01/11/2569,2570",  # vaccinated > surveyed
        "๑๐๐,dog,50,45,5,6,01/11/2569,2570",  # village out of range
        "4,cow,50,45,5,6,01/11/2569,2570",
    ]  # unknown species
    write_extract(landing, "vaccination", NIGHT, f"{LAO}.csv", "\n".join([head, *rows]) + "\n")
    s = load_night("vaccination", D)
    assert (s["rows_loaded"], s["rows_quarantined"]) == (1, 4)


def test_an_error_while_reading_one_file_rejects_that_file_only(owner_conn, landing):
    from dla_pipeline import contract

    write_extract(landing, "allowance", NIGHT, f"{LAO}.csv", f"{HEADER_EN}\n{GOOD}\n")
    write_extract(landing, "allowance", NIGHT, f"{LAO2}.csv", f"{HEADER_EN}\n{GOOD2}\n")
    calls = {"n": 0}
    real = contract.ALLOWANCE.convert

    def flaky(chunk, ctx):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk went away")
        return real(chunk, ctx)

    object.__setattr__(contract.ALLOWANCE, "convert", flaky)
    try:
        s = load_night("allowance", D, batches=1)
    finally:
        object.__setattr__(contract.ALLOWANCE, "convert", real)
    assert s["conservation_ok"] and s["rows_loaded"] == 1 and s["files_rejected"] == 1
    ((name, code, error),) = owner_conn.execute(
        "select file_name, reason_code, error from ops.files where status = 'rejected'"
    ).fetchall()
    assert name == f"{LAO2}.csv" and code == "unreadable_file" and "disk went away" in error


def test_failure_mid_batch_rolls_back_everything(owner_conn, landing, monkeypatch):
    from dla_pipeline import ledger

    write_extract(landing, "allowance", NIGHT, f"{LAO}.csv", f"{HEADER_EN}\n{GOOD}\n")
    write_extract(landing, "allowance", NIGHT, f"{LAO2}.csv", f"{HEADER_EN}\n{GOOD2}\n")
    real = ledger.write_files

    def broken(*args, **kwargs):
        raise ConnectionError("the server went away mid-batch")

    monkeypatch.setattr(ledger, "write_files", broken)
    with pytest.raises(ConnectionError):
        load_night("allowance", D, batches=1)
    monkeypatch.setattr(ledger, "write_files", real)
    assert _counts(owner_conn) == (0, 0)
    assert owner_conn.execute("select count(*) from ops.files").fetchone()[0] == 0
    s = load_night("allowance", D)  # the next run completes it
    assert s["rows_loaded"] == 2 and s["conservation_ok"]


def test_killed_load_leaves_nothing_half_visible(owner_conn, landing, warehouse_db):
    big = (
        "\n".join(
            [HEADER_EN]
            + [
                f"{make_thai_id(f'3{i:011d}')},12/03/2490,11/2569,800,05/11/2569,cash,paid"
                for i in range(200_000)
            ]
        )
        + "\n"
    )
    write_extract(landing, "allowance", NIGHT, f"{LAO}.csv", big)
    env = {**os.environ, **warehouse_db, "PGAPPNAME": "killme"}
    code = (
        "import logging; from datetime import date; from dla_pipeline.ingest import load_night;"
        f"load_night('allowance', date.fromisoformat('{NIGHT}'))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            n = owner_conn.execute(
                "select count(*) from pg_stat_activity where query ilike 'copy raw.%%'"
                " and state = 'active' and datname = current_database()"
            ).fetchone()[0]
            if n:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the load never reached COPY")
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.5)  # the server notices the dead client and aborts the transaction
    assert _counts(owner_conn) == (0, 0)
    s = load_night("allowance", D)
    assert s["rows_loaded"] == 200_000 and s["conservation_ok"]


def test_conservation_failure_is_loud(owner_conn, landing):
    from dla_pipeline.ingest import ConservationError

    write_extract(landing, "allowance", NIGHT, f"{LAO}.csv", f"{HEADER_EN}\n{GOOD}\n")
    load_night("allowance", D)
    owner_conn.execute("delete from raw.allowance_payments")  # rows vanish behind our back
    with pytest.raises(ConservationError, match="rows in"):
        close_night("allowance", D)


def test_compliance_lists_who_reported_was_rejected_or_missing(owner_conn, landing):
    write_extract(landing, "allowance", NIGHT, f"{LAO}.csv", f"{HEADER_EN}\n")
    write_extract(landing, "allowance", NIGHT, f"{LAO2}.csv", b"<html>oops</html>")
    load_night("allowance", D)
    status = dict(
        owner_conn.execute(
            "select status, count(*) from ops.submissions where source='allowance' group by 1"
        ).fetchall()
    )
    assert status == {"reported": 1, "rejected": 1, "missing": 7849 - 2}
    assert (
        owner_conn.execute(
            "select status from ops.submissions where lao_code=%s", (LAO2,)
        ).fetchone()[0]
        == "rejected"
    )


def test_two_sources_loading_at_once_do_not_interfere(owner_conn, landing):
    from concurrent.futures import ThreadPoolExecutor

    head_v = "village_no,species,surveyed,owned,ownerless,vaccinated,vaccination_date,fiscal_year"
    for i, lao in enumerate((LAO, LAO2, "6110205", "6110206")):
        rows = [f"{CID},12/03/2490,11/2569,800,05/11/2569,cash,paid"] + [
            f"{make_thai_id(f'4{i}{j:010d}')},12/03/2490,11/2569,800,05/11/2569,cash,paid"
            for j in range(2000)
        ]
        write_extract(landing, "allowance", NIGHT, f"{lao}.csv", "\n".join([HEADER_EN, *rows]))
        write_extract(
            landing,
            "vaccination",
            NIGHT,
            f"{lao}.csv",
            "\n".join([head_v] + [f"{v},dog,10,9,1,8,01/11/2569,2570" for v in range(1, 30)]),
        )
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(load_night, s, D, 2) for s in ("allowance", "vaccination") * 2]
        results = [f.result() for f in futures]
    assert all(r["conservation_ok"] for r in results)
    assert _counts(owner_conn, "allowance") == (4 * 2001, 0)
    assert _counts(owner_conn, "vaccination") == (4 * 29, 0)


def test_batches_load_from_the_plans_scan_as_tasks_do_from_their_own(
    owner_conn, landing, monkeypatch
):
    """The direct runner lists a night folder once: its batches take their part of the
    plan's scan (``batch_scan``); an Airflow task, in its own process, lists the folder
    itself. Both load the same rows, quarantine the same and record the same files."""
    from dla_pipeline import steps
    from dla_pipeline.landing import LocalLanding

    for lao in (LAO, LAO2, "6110113", "6110114"):
        write_extract(landing, "allowance", NIGHT, f"{lao}.csv", f"{HEADER_EN}\n{GOOD}\n{GOOD2}\n")
    write_extract(landing, "allowance", NIGHT, "export (1).csv", f"{HEADER_EN}\n{GOOD}\n")
    monkeypatch.setenv("INGEST_BATCHES", "3")
    scans = []
    real_scan = LocalLanding.scan

    def counted(self, source, night):
        scans.append((source, night))
        return real_scan(self, source, night)

    def state():
        raw = owner_conn.execute(
            "select lao_code, person_key, amount, load_id is not null"
            " from raw.allowance_payments order by 1, 2"
        ).fetchall()
        files = owner_conn.execute(
            "select file_name, status, rows_in, rows_loaded, rows_quarantined"
            " from ops.files where source = 'allowance' order by 1"
        ).fetchall()
        closed = owner_conn.execute(
            "select files, files_rejected, laos_reporting, rows_in, rows_loaded,"
            " rows_quarantined, conservation_ok from ops.nights where source = 'allowance'"
        ).fetchall()
        issues = owner_conn.execute(
            "select reason_code, count(*) from ops.landing_issues group by 1 order by 1"
        ).fetchall()
        return raw, files, _counts(owner_conn), closed, issues

    monkeypatch.setattr(LocalLanding, "scan", counted)
    # one worker: the batches run in this process, where the scans are counted
    outcomes = steps.load_nights([("allowance", D)], "plan-scan", workers=1)
    summary = outcomes[("allowance", D)]
    assert summary["conservation_ok"] and summary["laos_sending"] == 4
    assert steps.ingest_close("allowance", D, summary) is summary
    # the plan's scan: its batches and its close listed nothing again
    assert scans == [("allowance", D)]
    direct = state()

    forget_night("allowance", D)  # the same files, loaded again the other way
    assert _counts(owner_conn) == (0, 0)
    scans.clear()
    batches = steps.ingest_plan("allowance", D)
    assert len(batches) > 1
    for keys in batches:  # as the DAG's mapped tasks: each lists the folder itself
        steps.ingest_batch("allowance", D, keys, "tasks")
    close_night("allowance", D)  # as the DAG's close task
    assert len(scans) == 1 + len(batches) + 1
    assert state() == direct
    assert direct[2] == (4, 5)  # two known LAOs loaded; two unknown and a stray refused
    assert direct[3] == [(5, 3, 2, 9, 4, 5, True)]  # 9 rows in: 4 loaded, 5 refused


def _load_batch_refusing_tax(source, night, *args):
    """``ingest.load_batch``, failing every tax batch (run in the pool's forked workers)."""
    if source == "tax":
        raise RuntimeError("a tax batch failed (test)")
    return _LOAD_BATCH(source, night, *args)


def test_each_source_night_closes_as_its_batches_finish(owner_conn, landing, monkeypatch):
    """``load_nights`` over the pool closes each source-night once its own batches are done
    (from the plan's scan), beside the others' batches: the same totals a close run
    afterwards finds. A source-night whose batch failed is not closed (its error is its
    outcome); one with no file is closed here, and ``ingest_close`` says there was none."""
    from dla_pipeline import ingest, steps

    d2 = date.fromordinal(D.toordinal() + 1)
    for night in (NIGHT, d2.isoformat()):
        for lao in (LAO, LAO2):
            write_extract(landing, "allowance", night, f"{lao}.csv", f"{HEADER_EN}\n{GOOD}\n")
        write_extract(landing, "allowance", night, "9999999.csv", f"{HEADER_EN}\n{GOOD}\n")
    write_extract(landing, "tax", NIGHT, f"{LAO}.csv", "receipt_no\n1\n")
    monkeypatch.setenv("INGEST_BATCHES", "2")
    monkeypatch.setattr(ingest, "load_batch", _load_batch_refusing_tax)
    jobs = [("allowance", D), ("allowance", d2), ("tax", D), ("vaccination", D)]

    outcomes = steps.load_nights(jobs, "close-in-pool", workers=2)

    assert list(outcomes) == jobs
    assert str(outcomes[("tax", D)]) == "a tax batch failed (test)"
    with pytest.raises(RuntimeError, match="a tax batch failed"):
        steps.ingest_close("tax", D, outcomes[("tax", D)])
    with pytest.raises(steps.NoFiles, match="no vaccination files"):
        steps.ingest_close("vaccination", D, outcomes[("vaccination", D)])
    closed = dict(
        owner_conn.execute(
            "select source || ' ' || extract_date, rows_loaded from ops.nights"
        ).fetchall()
    )
    assert closed == {f"allowance {NIGHT}": 2, f"allowance {d2}": 2, f"vaccination {NIGHT}": 0}
    for night in (D, d2):
        summary = outcomes[("allowance", night)]
        assert (summary["laos_sending"], summary["rows_loaded"], summary["files"]) == (3, 2, 3)
        assert summary == close_night("allowance", night)  # closing again finds the same


def _load_batch_dying_on_tax(source, night, *args):
    """``ingest.load_batch``, whose worker process dies on a tax batch."""
    if source == "tax":
        os._exit(3)
    return _LOAD_BATCH(source, night, *args)


def test_a_dead_worker_is_each_unfinished_source_nights_error(owner_conn, landing, monkeypatch):
    """A worker that dies breaks the pool: every source-night not done by then reports it
    (none is closed without its batches), the call itself returns, and nothing is left
    half-written (each batch is one transaction)."""
    from concurrent.futures.process import BrokenProcessPool

    from dla_pipeline import ingest, steps

    nights = [date.fromordinal(D.toordinal() + i) for i in range(3)]
    for night in nights:
        for lao in (LAO, LAO2):
            write_extract(
                landing, "allowance", night.isoformat(), f"{lao}.csv", f"{HEADER_EN}\n{GOOD}\n"
            )
    write_extract(landing, "tax", NIGHT, f"{LAO}.csv", "receipt_no\n1\n")
    monkeypatch.setattr(ingest, "load_batch", _load_batch_dying_on_tax)
    jobs = [("tax", D)] + [("allowance", n) for n in nights]

    outcomes = steps.load_nights(jobs, "dead-worker", workers=2)

    assert isinstance(outcomes[("tax", D)], BrokenProcessPool)
    assert all(isinstance(o, (dict, BrokenProcessPool)) for o in outcomes.values())
    closed = {(s, n) for s, n in owner_conn.execute("select source, extract_date from ops.nights")}
    assert ("tax", D) not in closed
    for job, outcome in outcomes.items():
        if isinstance(outcome, dict):  # (a close that committed as the pool broke may be
            assert job in closed  # reported as broken: its rerun closes it again)
            assert outcome["conservation_ok"] and outcome["rows_loaded"] == 2
    # what the dead batch held was rolled back: a later run loads it whole
    monkeypatch.setattr(ingest, "load_batch", _LOAD_BATCH)
    again = steps.load_nights(jobs, "after-dead-worker", workers=2)
    assert all(isinstance(o, dict) and o["conservation_ok"] for o in again.values()), again


OTHER_PROVINCE = "2120101"  # (Nonthaburi PAO: a batch of its own beside Samut Prakan's)


def _load_batch_dying_after_the_other(source, night, unit_keys, *args):
    """``ingest.load_batch``, whose worker dies on Nonthaburi's batch once Samut
    Prakan's batch has committed."""
    if f"lao:{OTHER_PROVINCE}" in unit_keys:
        import psycopg

        with psycopg.connect(os.environ["WAREHOUSE_URL"], autocommit=True) as conn:
            while not conn.execute("select count(*) from ops.files").fetchone()[0]:
                time.sleep(0.05)
        os._exit(3)
    return _LOAD_BATCH(source, night, unit_keys, *args)


def test_a_night_whose_load_died_shows_what_its_committed_batches_hold(
    owner_conn, landing, monkeypatch
):
    """A load whose worker died after another batch committed: the night's summary shows
    the rows that batch holds (not zero) and says the night is not closed; the build
    counts the source as failed; a rerun closes it."""
    from dla_pipeline import ingest, steps
    from dla_pipeline.night import _conservation, summarize

    write_extract(landing, "allowance", NIGHT, f"{LAO}.csv", f"{HEADER_EN}\n{GOOD}\n")
    write_extract(landing, "allowance", NIGHT, f"{OTHER_PROVINCE}.csv", f"{HEADER_EN}\n{GOOD2}\n")
    monkeypatch.setenv("INGEST_BATCHES", "2")
    monkeypatch.setattr(ingest, "load_batch", _load_batch_dying_after_the_other)

    outcomes = steps.load_nights([("allowance", D)], "dying", workers=2)

    assert not isinstance(outcomes[("allowance", D)], dict)
    got = summarize(D)["sources"]["allowance"]
    assert (got["files"], got["rows_loaded"], got["closed"]) == (1, 1, False), got
    assert got["conservation_ok"] is None
    assert _conservation(got).startswith("not closed")
    assert steps.source_status("allowance", D) == "failed"

    monkeypatch.setattr(ingest, "load_batch", _LOAD_BATCH)
    steps.load_nights([("allowance", D)], "after-dying", workers=2)
    got = summarize(D)["sources"]["allowance"]
    assert (got["files"], got["rows_loaded"], got["closed"]) == (2, 2, True), got
    assert got["conservation_ok"] and _conservation(got) == "ok"
    assert steps.source_status("allowance", D) == "closed"


def _no_batch(*args) -> dict:
    return {}


def _closed_at_once(source, night, settings, scan) -> dict:
    return {"night": night}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_long_backfill_holds_only_the_scans_of_the_nights_in_flight(monkeypatch, workers):
    """Source-nights are planned when their first batch is due, and a scan is let go once
    its night is closed: memory does not grow with the number of nights (a year is
    ~8 million landing entries), in this process or over the pool. Batches and closes
    are faked (no rows), the bookkeeping is real."""
    import gc
    import weakref

    from dla_pipeline import ingest
    from dla_pipeline.landing import NightScan

    scans: list[weakref.ref] = []  # each plan's scan, held by the loader or let go
    most = [0]
    jobs = [("vaccination", date.fromordinal(D.toordinal() + i)) for i in range(40)]

    def plan(source, night):
        gc.collect()
        most[0] = max(most[0], sum(ref() is not None for ref in scans))
        scan = NightScan(source, night)
        scans.append(weakref.ref(scan))
        return ingest.NightPlan(source, night, [["lao:1"], ["lao:2"]], scan)

    monkeypatch.setattr(ingest, "load_batch", _no_batch)
    monkeypatch.setattr(ingest, "close_night", _closed_at_once)
    monkeypatch.setattr(ingest, "_analyze_loaded_table", lambda *a: None)
    out = ingest.load_source_nights(jobs, plan, "plan-late", workers=workers, close=True)
    assert out == {job: {"night": job[1]} for job in jobs}
    # when a night is planned, only nights still loading or closing hold their scans
    assert most[0] <= (1 if workers == 1 else 3 * workers + 2)


def test_closes_record_landing_issues_one_scope_at_a_time(owner_conn):
    """Closes running at once (the load's pool, Airflow's close tasks) all touch the 'root'
    scope's issues: one waits for the other's commit instead of locking the same rows in
    another order (a deadlock); a close of another scope only does not wait."""
    import psycopg

    from dla_pipeline import ledger
    from dla_pipeline.db import connect
    from dla_pipeline.landing import Issue

    stray = Issue("stray.zip", "file", "bad_layout", "outside the layout", "root")
    with connect(role="loader") as first, first.transaction():
        ledger.record_landing_issues(first, ("root", "allowance"), [stray])
        with connect(role="loader") as other:
            other.execute("set lock_timeout = '300ms'")
            with other.transaction():  # another source's folder only: no wait
                ledger.record_landing_issues(other, ("tax",), [])
            with pytest.raises(psycopg.errors.LockNotAvailable), other.transaction():
                ledger.record_landing_issues(other, ("root", "tax"), [])
    owner_conn.execute("delete from ops.landing_issues where path = 'stray.zip'")
