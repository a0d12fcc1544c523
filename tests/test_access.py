"""Who may see what, tested as an attacker would: personal logins, row-level security by
province, the restricted schema, small cells, clear IDs nowhere outside raw, the key
nowhere in artefacts, erasure, key rotation, hardening of the embedded server."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest
from conftest import TEST_DB, reset_loaded_data

from dla_pipeline import access, warehouse
from dla_pipeline.config import get_settings, project_root
from dla_pipeline.generator import generate_night
from dla_pipeline.night import run_night

NIGHT = date(2026, 11, 5)
PROVINCE = "10"  # filled below with a province that has allowance rows


def admin_db() -> str:
    return warehouse.admin_conninfo(dbname=TEST_DB)


@pytest.fixture(scope="module")
def night(warehouse_db):
    reset_loaded_data(warehouse_db["WAREHOUSE_URL"], Path(warehouse_db["LANDING_DIR"]))
    generate_night(NIGHT, laos=60, seed=9, bad_fraction=0.03)
    summary = run_night(NIGHT, runner="direct")
    assert summary["ok"], summary["steps"]
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"]) as conn:
        province = conn.execute(
            "select province_code from marts.allowance_by_province group by 1"
            " order by count(*) desc limit 1"
        ).fetchone()[0]
    return province


@pytest.fixture(scope="module")
def people(night):
    urls = {}
    for login, role, province in (
        ("t_officer", "province_officer", night),
        ("t_central", "central_analyst", None),
        ("t_auditor", "auditor", None),
        ("t_bi_prov", "bi_service", night),
    ):
        with contextlib.suppress(access.AccessError):
            access.remove_user(admin_db(), login)
        urls[login] = access.add_user(admin_db(), login, role, province, get_settings())
    yield urls
    for login in urls:
        access.remove_user(admin_db(), login)


def marts(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.columns where table_schema = 'marts'"
                " and column_name = 'province_code' group by 1 order by 1"
            )
        ]


def test_a_province_officer_sees_only_its_province_in_every_mart(night, people):
    officer, central = people["t_officer"], people["t_central"]
    names = marts(central)
    assert len(names) >= 8
    with psycopg.connect(officer) as o, psycopg.connect(central) as c:
        for name in names:
            mine = o.execute(
                f"select province_code, count(*) from marts.{name} group by 1"
            ).fetchall()
            assert {p for p, _ in mine} <= {night}, name
            everyone = c.execute(
                f"select count(distinct province_code) from marts.{name}"
            ).fetchone()[0]
            assert everyone >= len(mine), name
        assert (
            o.execute("select count(distinct province_code) from marts.dim_lao").fetchone()[0] == 1
        )
        assert (
            c.execute("select count(distinct province_code) from marts.dim_lao").fetchone()[0] == 76
        )


def test_the_officer_cannot_get_around_the_policy(night, people):
    officer = people["t_officer"]
    with psycopg.connect(officer, autocommit=True) as o:
        # the versioned tables behind the views carry the policy themselves
        for (table,) in o.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = 'marts_store' and c.relname like 'dim_lao__v%'"
        ).fetchall():
            assert (
                o.execute(
                    f'select count(distinct province_code) from marts_store."{table}"'
                ).fetchone()[0]
                == 1
            )
        # joins do not widen what a table shows
        n = o.execute(
            "select count(*) from marts.dim_lao d join marts.province_summary s using (province_code)"
            " where s.province_code <> %s",
            (night,),
        ).fetchone()[0]
        assert n == 0
        # planner statistics of the marts are hidden from a reader under row-level security
        assert (
            o.execute(
                "select count(*) from pg_stats where schemaname in ('marts', 'marts_store')"
            ).fetchone()[0]
            == 0
        )
        # an error message cannot reveal another province: the policy filters first
        o.execute(
            "select 1 / (case when province_code <> %s then 0 else 1 end) from marts.dim_lao",
            (night,),
        ).fetchall()
        # nor can a function of its own that prints every value it is shown
        notices: list[str] = []
        o.add_notice_handler(lambda d: notices.append(d.message_primary))
        o.execute(
            "create function pg_temp.leak(p text) returns boolean language plpgsql as"
            " $$ begin raise notice 'saw %', p; return true; end $$"
        )
        o.execute("select count(*) from marts.dim_lao where pg_temp.leak(province_code)").fetchall()
        assert notices and {m.split()[-1] for m in notices} == {night}
        # nor can it pose as another role or change the mapping
        for sql in (
            "set role central_analyst",
            "set role t_central",
            "insert into access.role_provinces values ('t_officer', '*')",
            "select * from access.role_provinces",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                o.execute(sql)


def test_a_provincial_bi_login_is_scoped_like_an_officer(night, people):
    with psycopg.connect(people["t_bi_prov"]) as b:
        assert b.execute("select array_agg(distinct province_code) from marts.dim_lao").fetchone()[
            0
        ] == [night]


def test_person_level_marts_are_for_auditors_only(night, people):
    for login in ("t_officer", "t_central", "t_bi_prov"):
        with psycopg.connect(people[login]) as conn:
            for mart in (
                "allowance_findings",
                "allowance_by_lao_period_detail",
                "revenue_by_lao_account_detail",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(f"select 1 from restricted.{mart} limit 1")
                conn.rollback()
            assert (
                conn.execute(
                    "select count(*) from information_schema.tables where table_schema = 'marts'"
                    " and table_name = 'allowance_findings'"
                ).fetchone()[0]
                == 0
            )
    with psycopg.connect(people["t_auditor"]) as a:
        assert a.execute("select count(*) from restricted.allowance_findings").fetchone()[0] > 0
        assert a.execute("show log_statement").fetchone()[0] == "all"  # auditors' reads are logged


def test_small_cells_are_suppressed_and_totals_still_reconcile(night, people):
    with psycopg.connect(people["t_central"]) as c, psycopg.connect(people["t_auditor"]) as a:
        small = c.execute(
            "select count(*) from marts.allowance_by_lao_period where is_suppressed"
            " and (recipients is not null or amount_paid is not null)"
        ).fetchone()[0]
        assert small == 0
        assert (
            c.execute(
                "select count(*) from marts.allowance_by_lao_period where recipients between 1 and 4"
            ).fetchone()[0]
            == 0
        )
        open_total = c.execute(
            "select sum(amount_paid) from marts.allowance_by_province"
        ).fetchone()[0]
        detail_total = a.execute(
            "select sum(amount_paid) from restricted.allowance_by_lao_period_detail"
        ).fetchone()[0]
        assert open_total == detail_total


def test_people_cannot_reach_other_databases_or_the_pipeline_schemas(night, people):
    url = people["t_central"]
    for other in ("postgres", "template1"):
        with pytest.raises(psycopg.OperationalError, match="CONNECT"):
            psycopg.connect(url.rsplit("/", 1)[0] + f"/{other}").close()
    with psycopg.connect(url) as c:
        for hidden in (
            "raw.allowance_payments",
            "ops.quarantine",
            "core.fct_allowance_payments",
            "staging.stg_allowance__payments",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(f"select 1 from {hidden} limit 1")
            c.rollback()
        assert c.execute("show statement_timeout").fetchone()[0] == "5min"
        assert c.execute("show idle_in_transaction_session_timeout").fetchone()[0] == "2min"


def test_the_pipeline_roles_have_least_privilege(night, warehouse_db):
    s = get_settings()
    with psycopg.connect(s.role_url("transformer")) as t:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            t.execute("select citizen_id from raw.allowance_payments limit 1")
        t.rollback()
        assert t.execute("select count(person_key) from raw.allowance_payments").fetchone()[0] > 0
    with psycopg.connect(s.role_url("gate")) as g:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            g.execute("select taxpayer_id from raw.tax_receipts limit 1")
        g.rollback()
        cols = {
            r[0]
            for r in g.execute(
                "select column_name from information_schema.columns where table_schema = 'gate'"
            )
        }
        assert cols and not cols & {"citizen_id", "taxpayer_id"}
    with (
        psycopg.connect(s.role_url("publisher")) as p,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        p.execute("select citizen_id from raw.allowance_payments limit 1")


def test_dla_users_add_prints_a_url_once_and_rejects_what_makes_no_sense(night, tmp_path):
    dla = str(Path(sys.executable).with_name("dla"))
    out = subprocess.run(
        [dla, "users", "add", "t_cli", "--role", "province_officer", "--province", night],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    url = re.search(r"postgresql://\S+", out)[0]
    with psycopg.connect(url) as conn:
        assert (
            conn.execute("select count(distinct province_code) from marts.dim_lao").fetchone()[0]
            == 1
        )
    listed = subprocess.run(
        [dla, "users", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert "t_cli" in listed and url.split(":")[2].split("@")[0] not in listed  # no password
    subprocess.run([dla, "users", "remove", "t_cli"], check=True, capture_output=True)
    for args in (
        ["users", "add", "t_x", "--role", "province_officer"],  # no province
        ["users", "add", "t_x", "--role", "central_analyst", "--province", "10"],
        ["users", "add", "analyst", "--role", "central_analyst"],  # a group's name
        ["users", "add", "t_x", "--role", "province_officer", "--province", "99"],
    ):
        bad = subprocess.run([dla, *args], capture_output=True, text=True)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, args


def test_publishing_gives_way_to_a_reader_then_retries(night, people, warehouse_db):
    from dla_pipeline import steps

    reader = psycopg.connect(people["t_central"])
    reader.execute("select count(*) from marts.dim_lao").fetchone()  # holds its lock, idle
    steps.transform(NIGHT)
    steps.quality_gate(NIGHT, "retry-test")
    done: dict = {}
    worker = threading.Thread(
        target=lambda: done.setdefault("t", steps.publish_marts(NIGHT, "retry-test"))
    )
    t0 = time.monotonic()
    worker.start()
    time.sleep(7)  # more than the publisher's lock timeout: it has given way at least once
    assert worker.is_alive()
    reader.rollback()
    reader.close()
    worker.join(120)
    assert "t" in done and time.monotonic() - t0 > 7


def clear_ids(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        ids = {r[0] for r in conn.execute("select citizen_id from raw.allowance_payments")}
        ids |= {r[0] for r in conn.execute("select taxpayer_id from raw.tax_receipts")}
    return ids


def test_no_clear_id_outside_raw_and_no_key_in_any_artefact(night, warehouse_db):
    ids = clear_ids(warehouse_db["WAREHOUSE_URL"])
    assert len(ids) > 1000
    found = []
    with psycopg.connect(admin_db()) as conn:
        tables = conn.execute(
            "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where c.relkind in ('r', 'v', 'm') and n.nspname not in ('raw', 'pg_catalog', 'information_schema', 'pg_toast')"
        ).fetchall()
        for schema, table in tables:
            for (text,) in conn.execute(f'select t::text from "{schema}"."{table}" as t'):
                for run in re.findall(r"\d{13}", text or ""):
                    if run in ids:
                        found.append((schema, table, run[:3] + "..."))
    assert not found, found[:10]
    s = get_settings()
    from dla_pipeline.pseudonyms import Keys

    keys = Keys.from_settings(s)
    secrets = [s.pseudonym_key, s.erasure_key or "", keys.citizen.hex(), keys.taxpayer.hex()]
    folders = [
        Path(warehouse_db["RUNS_DIR"]),
        s.root / "data" / "dbt-logs",
        s.dbt_dir / "target",
        s.expectations_dir / "gx" / "uncommitted",
        Path(warehouse_db["AIRFLOW_HOME"]),
    ]
    for folder in folders:
        for path in folder.rglob("*") if folder.exists() else []:
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 50_000_000:
                data = path.read_bytes()
                for secret in filter(None, secrets):
                    assert secret.encode() not in data, f"a key is in {path}"
                runs = set(re.findall(rb"(?<!\d)\d{13}(?!\d)", data))
                assert not {r.decode() for r in runs} & ids, f"a clear ID is in {path}"


def test_files_with_personal_data_are_private(warehouse_db, tmp_path):
    dla = str(Path(sys.executable).with_name("dla"))
    env = {**os.environ, "LANDING_DIR": str(tmp_path / "landing")}
    subprocess.run(
        [dla, "generate", "--date", "2026-11-05", "--laos", "3", "--sources", "allowance"],
        env=env,
        check=True,
        capture_output=True,
    )
    for path in (tmp_path / "landing").rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))


@pytest.mark.skipif(os.geteuid() != 0, reason="the root-mode start only runs as root")
def test_a_link_planted_by_the_service_account_is_not_followed_by_a_root_start(tmp_path):
    emb = warehouse.Embedded(project_root())
    victim = tmp_path / "victim"
    victim.write_text("root's")
    victim.chmod(0o600)
    before = victim.stat()
    planted = [emb.pgdata / "planted_link", emb.base / ".pg_ctl.out"]
    for link in planted:
        link.unlink(missing_ok=True)
        link.symlink_to(victim)
    try:
        emb.start()  # root mode: fixes ownership under pgdata, runs pg_ctl as dla_pg
        after = victim.stat()
        assert (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == (
            before.st_uid,
            before.st_gid,
            0o600,
        )
        assert victim.read_text() == "root's"
    finally:
        for link in planted:
            link.unlink(missing_ok=True)
