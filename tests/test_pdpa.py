"""PDPA rights: an erased person is gone from every table and mart and stays out when old
files are loaded again; a key rotation re-derives every pseudonym without a reload; the
purge applies the retention periods."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from conftest import TEST_DB, reset_loaded_data, write_extract

from dla_pipeline import warehouse
from dla_pipeline.config import get_settings
from dla_pipeline.generator import generate_night, make_thai_id
from dla_pipeline.ingest import forget_night
from dla_pipeline.night import run_night
from dla_pipeline.pseudonyms import Keys, line_token, pseudonym

NIGHT = date(2026, 11, 5)
X = make_thai_id("390123456789")
AH = "citizen_id,birth_date,payment_period,amount,paid_on,channel,status"
DLA = str(Path(sys.executable).with_name("dla"))


def admin_db() -> str:
    return warehouse.admin_conninfo(dbname=TEST_DB)


def everywhere(text: str) -> list[str]:
    """Every table and view of the database that holds ``text`` in a row."""
    hits = []
    with psycopg.connect(admin_db()) as conn:
        for schema, table in conn.execute(
            "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where c.relkind in ('r', 'v') and n.nspname not in ('pg_catalog', 'information_schema')"
        ).fetchall():
            n = conn.execute(
                f'select count(*) from "{schema}"."{table}" as t where t::text like %s',
                (f"%{text}%",),
            ).fetchone()[0]
            if n:
                hits.append(f"{schema}.{table}: {n}")
    return hits


@pytest.fixture(scope="module")
def with_x(warehouse_db):
    landing = Path(warehouse_db["LANDING_DIR"])
    reset_loaded_data(warehouse_db["WAREHOUSE_URL"], landing)
    generate_night(NIGHT, laos=30, seed=4, bad_fraction=0.0)
    # X is paid by two LAOs (a finding), and has a quarantined line in a third
    for lao, line in (
        ("6110111", f"{X},12/03/2490,11/2569,800,05/11/2569,cash,paid"),
        ("6110112", f"{X},12/03/2490,11/2569,800,05/11/2569,cash,paid"),
        ("6110205", f"{X},12/03/2490,11/2569,-5,05/11/2569,cash,paid"),
    ):
        write_extract(landing, "allowance", NIGHT.isoformat(), f"{lao}.csv", f"{AH}\n{line}\n")
    assert run_night(NIGHT, runner="direct")["ok"]
    return warehouse_db


def test_an_erased_citizen_is_gone_everywhere_and_stays_out(with_x):
    s = get_settings()
    key = pseudonym(Keys.from_settings(s).citizen, X)
    token = line_token(s.erasure_secret, X)
    assert everywhere(key) and everywhere(f"[id:{token}]") and everywhere(X)
    out = subprocess.run(
        [DLA, "erase", "--citizen-id", X, "--by", "dpo-test"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert X not in out.stdout + out.stderr  # the log never shows the ID
    for needle in (X, key, f"[id:{token}]"):
        assert not everywhere(needle), (needle[:6], everywhere(needle))
    with psycopg.connect(with_x["WAREHOUSE_URL"]) as conn:
        who, removed = conn.execute("select erased_by, rows_removed from ops.erasures").fetchone()
        assert who == "dpo-test" and removed["raw.allowance_payments"] == 2
        # finishing the erasure keeps the watermarks: the next build stays incremental
        assert conn.execute("select count(*) from core.model_watermarks").fetchone()[0] > 0
        # the ledger still says what raw holds, per file and per night (the gate reads it)
        raw, files, night_total = conn.execute(
            "select (select count(*) from raw.allowance_payments where extract_date = %s),"
            " (select sum(rows_loaded) from ops.files where source = 'allowance'"
            "  and extract_date = %s),"
            " (select rows_loaded from ops.nights where source = 'allowance'"
            "  and extract_date = %s)",
            (NIGHT, NIGHT, NIGHT),
        ).fetchone()
        assert raw == files == night_total, (raw, files, night_total)
    # every night that held X is loaded again from its files: X stays out, counted
    forget_night("allowance", NIGHT)
    summary = run_night(NIGHT, runner="direct")
    assert summary["ok"] and summary["sources"]["allowance"]["conservation_ok"]
    for needle in (X, key):
        assert not everywhere(needle)
    with psycopg.connect(with_x["WAREHOUSE_URL"]) as conn:
        erased = conn.execute(
            "select count(*), count(raw_line) from ops.quarantine where reason_code = 'erased'"
        ).fetchone()
    assert erased == (3, 0)  # its two payments and its bad line, none with content


def test_rotating_the_key_rederives_every_pseudonym_without_a_reload(with_x, tmp_path, monkeypatch):
    from dla_pipeline import pdpa, steps

    env_file = tmp_path / ".env"
    env_file.write_text(f"PSEUDONYM_KEY={os.environ['PSEUDONYM_KEY']}\nPSEUDONYM_KEY_VERSION=1\n")
    old = get_settings()
    with psycopg.connect(with_x["WAREHOUSE_URL"]) as conn:
        before = dict(
            conn.execute("select citizen_id, person_key from raw.allowance_payments").fetchall()
        )
        loads = conn.execute("select count(*) from ops.file_loads").fetchone()[0]
    out = pdpa.rotate_key(admin_db(), old, env_path=env_file)
    new = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert new["PSEUDONYM_KEY_VERSION"] == "2" and new["PSEUDONYM_KEY"] != old.pseudonym_key
    monkeypatch.setenv("PSEUDONYM_KEY", new["PSEUDONYM_KEY"])
    monkeypatch.setenv("PSEUDONYM_KEY_VERSION", "2")
    keys = Keys.from_settings(get_settings())
    assert out["fingerprints"]["citizen"] == keys.fingerprint("citizen")
    steps.transform(NIGHT)
    steps.quality_gate(NIGHT, "rotated")
    steps.publish_marts(NIGHT, "rotated")
    with psycopg.connect(with_x["WAREHOUSE_URL"]) as conn:
        after = conn.execute(
            "select citizen_id, person_key, key_version from raw.allowance_payments"
        ).fetchall()
        assert after and all(
            v == 2 and k == pseudonym(keys.citizen, c) != before[c] for c, k, v in after
        )
        facts = {r[0] for r in conn.execute("select person_key from core.fct_allowance_payments")}
        assert facts == {k for _c, k, _v in after}
        assert (
            conn.execute("select count(*) from ops.file_loads").fetchone()[0] == loads
        )  # no reload
    assert str(new["PSEUDONYM_KEY"]) not in " ".join(map(str, out.values()))
    reset_loaded_data(with_x["WAREHOUSE_URL"], Path(with_x["LANDING_DIR"]))


def test_the_purge_applies_the_retention_periods(warehouse_db, tmp_path):
    from dla_pipeline import pdpa
    from dla_pipeline.ingest import load_night

    landing = Path(warehouse_db["LANDING_DIR"])
    reset_loaded_data(warehouse_db["WAREHOUSE_URL"], landing)
    old = date(2026, 1, 5)
    y = make_thai_id("390123456788")
    write_extract(
        landing,
        "allowance",
        old.isoformat(),
        "6110111.csv",
        f"{AH}\n{y},12/03/2490,01/2569,800,05/01/2569,cash,paid\n{y},1\n",
    )
    load_night("allowance", old)
    report = {r["what"]: r for r in pdpa.purge(today=old + timedelta(days=200))}
    assert (
        report["landing files"]["files"] == 1
        and not (landing / "allowance" / old.isoformat()).exists()
    )
    assert report["quarantined rows"]["rows"] == 1 and report["raw rows"]["rows"] == 0
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"]) as conn:
        assert conn.execute("select count(*) from ops.purge_log").fetchone()[0] >= 5
        assert conn.execute("select count(*) from ops.quarantine").fetchone()[0] == 0


def test_replaced_rows_are_kept_for_the_retention_counted_from_the_re_send(warehouse_db):
    """A re-send of an old night: the rows it replaced were loaded long ago, but a model
    (or a kept mart's copy, a publish behind) still needs them to see what it took away."""
    from dla_pipeline import pdpa
    from dla_pipeline.ingest import load_night

    landing = Path(warehouse_db["LANDING_DIR"])
    reset_loaded_data(warehouse_db["WAREHOUSE_URL"], landing)
    old = date(2026, 1, 5)
    line = f"{make_thai_id('390123456722')},12/03/2490,01/2569,800,05/01/2569,cash,paid"
    write_extract(landing, "allowance", old.isoformat(), "6110111.csv", f"{AH}\n{line}\n")
    load_night("allowance", old)
    write_extract(landing, "allowance", old.isoformat(), "6110111.csv", f"{AH}\n")
    load_night("allowance", old)
    retracted = "select count(*) from raw.allowance_payments_retracted"
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"], autocommit=True) as conn:
        assert conn.execute(retracted).fetchone()[0] == 1
        conn.execute("update raw.allowance_payments_retracted set loaded_at = '2026-01-05'")
    today = date.today()  # a day's margin each side: the server compares in Bangkok time
    report = {r["what"]: r for r in pdpa.purge(today=today + timedelta(days=13))}
    assert report["retracted rows"]["rows"] == 0
    report = {r["what"]: r for r in pdpa.purge(today=today + timedelta(days=16))}
    assert report["retracted rows"]["rows"] == 1
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"]) as conn:
        assert conn.execute(retracted).fetchone()[0] == 0
    reset_loaded_data(warehouse_db["WAREHOUSE_URL"], landing)
