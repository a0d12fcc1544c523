"""The real scheduler, not `dags test`: scheduler, api-server, dag-processor and triggerer
against a scratch metadata database; nights triggered through the REST API.

* a night with every source: loaded, built once, published, summary written, no mail;
* a night with one source missing: the ingests wait (deferred) until the cutoff, the
  missing source fails, the build runs once all three have announced, publishes, and one
  message says which source is missing;
* an empty night: every ingest fails, nothing is published, one message.
Bounded in time; skipped only where Airflow cannot start.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from conftest import Inbox, free_port, reset_loaded_data

from dla_pipeline import warehouse
from dla_pipeline.generator import generate_night

pytestmark = pytest.mark.e2e

FULL, PARTIAL, EMPTY = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)


@pytest.fixture(scope="module")
def scheduler(warehouse_db, tmp_path_factory):
    from dla_pipeline import airflow_local, roles
    from dla_pipeline.airflow_env import airflow_env

    inbox = Inbox()
    home = tmp_path_factory.mktemp("airflow-sched")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_DB_NAME": "airflow_sched_test",
        "AIRFLOW_PORT": str(free_port()),
        "ALERT_EMAIL": "oncall@dla.test",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(inbox.port),
        "AIRFLOW_ADMIN_PASSWORD": "admin-sched-test",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    for key in [k for k in os.environ if k.startswith("AIRFLOW__")]:
        os.environ.pop(key)  # set by other tests in this process: the local env decides
    admin = warehouse.admin_conninfo()
    warehouse.drop_database(admin, "airflow_sched_test")
    roles.ensure_airflow_db(
        admin,
        "airflow_sched_test",
        os.environ["AIRFLOW_DB_USER"],
        os.environ["AIRFLOW_DB_PASSWORD"],
    )
    import subprocess
    import sys

    migrate = subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        env=airflow_env(),
        capture_output=True,
        text=True,
    )
    if migrate.returncode != 0:
        pytest.skip(f"Airflow cannot start here: {migrate.stderr[-500:]}")
    landing = Path(warehouse_db["LANDING_DIR"])
    reset_loaded_data(warehouse_db["WAREHOUSE_URL"], landing)
    generate_night(FULL, laos=25, seed=31, bad_fraction=0.0)
    generate_night(PARTIAL, laos=25, seed=32, bad_fraction=0.0, sources=("allowance", "tax"))
    try:
        airflow_local.start(wait=180)
        yield airflow_local, inbox
    finally:
        stopped = airflow_local.stop()
        inbox.close()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        assert stopped


def test_a_night_triggered_through_the_api_is_built_once_and_published(scheduler, warehouse_db):
    airflow_local, inbox = scheduler
    build = airflow_local.run_night_in_airflow(FULL, timeout=900)
    api = airflow_local.Api()
    builds = [r for r in api.runs("build_marts") if r.get("partition_key") == FULL.isoformat()]
    # on failure, what Airflow lists (one clone saw none listed right after finding the run)
    listed = airflow_local.why_no_build(api, FULL)
    assert len(builds) == 1, listed
    assert builds[0]["state"] == "success" and builds[0]["dag_run_id"] == build, listed
    # what an operator is shown when a build does not start names each source's announcement
    said = airflow_local.why_no_build(api, FULL)
    assert all(f"ingest_{s}/" in said for s in ("allowance", "tax", "vaccination")), said
    assert build in said
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"]) as conn:
        assert conn.execute(
            "select 1 from marts.published_nights where extract_date = %s", (FULL,)
        ).fetchone()
    import json

    summary = json.loads((Path(warehouse_db["RUNS_DIR"]) / f"{FULL}.json").read_text())
    assert summary["published"] and summary["run_id"] == build
    assert {"ingest_allowance", "ingest_tax", "ingest_vaccination", "build_marts"} <= set(
        summary["runs"]
    )
    assert summary["runs"]["ingest_tax"]["triggered_by"] == "admin"
    assert any(
        k.startswith("build_marts.") and v.get("seconds") is not None
        for k, v in summary["steps"].items()
    )
    assert [s for s in inbox.subjects() if FULL.isoformat() in s] == [], inbox.subjects()


def test_a_missing_source_waits_for_its_cutoff_then_is_reported_once(scheduler, warehouse_db):
    airflow_local, inbox = scheduler
    api = airflow_local.Api()
    cutoff = datetime.now(UTC) + timedelta(seconds=25)
    conf = {"extract_date": PARTIAL.isoformat(), "cutoff": cutoff.isoformat()}
    runs = {
        f"ingest_{s}": api.trigger(f"ingest_{s}", conf)["dag_run_id"]
        for s in ("allowance", "tax", "vaccination")
    }
    states = airflow_local.wait_runs(api, runs, timeout=600)
    assert states == {
        "ingest_allowance": "success",
        "ingest_tax": "success",
        "ingest_vaccination": "failed",
    }
    ended = datetime.fromisoformat(
        api.run("ingest_tax", runs["ingest_tax"])["end_date"].replace("Z", "+00:00")
    )
    assert ended >= cutoff  # it waited (deferred) for the cutoff
    build = airflow_local.find_build(api, PARTIAL, cutoff - timedelta(minutes=5), timeout=300)
    assert build, airflow_local.why_no_build(api, PARTIAL)
    assert airflow_local.wait_runs(api, {"build_marts": build}, timeout=600) == {
        "build_marts": "success"
    }
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"]) as conn:
        assert conn.execute(
            "select 1 from marts.published_nights where extract_date = %s", (PARTIAL,)
        ).fetchone()
    mails = [m for m in inbox.messages if PARTIAL.isoformat() in str(m["Subject"])]
    assert len(mails) == 1 and "vaccination" in str(mails[0]["Subject"])
    assert (
        "What to do" in mails[0].get_payload(decode=True).decode()
        if not mails[0].is_multipart()
        else True
    )


def test_an_empty_night_fails_visibly_and_sends_one_message(scheduler, warehouse_db):
    airflow_local, inbox = scheduler
    api = airflow_local.Api()
    since = datetime.now(UTC)
    conf = {"extract_date": EMPTY.isoformat(), "cutoff": since.isoformat()}
    runs = {
        f"ingest_{s}": api.trigger(f"ingest_{s}", conf)["dag_run_id"]
        for s in ("allowance", "tax", "vaccination")
    }
    assert set(airflow_local.wait_runs(api, runs, timeout=600).values()) == {"failed"}
    build = airflow_local.find_build(api, EMPTY, since, timeout=300)
    assert build, airflow_local.why_no_build(api, EMPTY)
    assert airflow_local.wait_runs(api, {"build_marts": build}, timeout=300) == {
        "build_marts": "failed"
    }
    time.sleep(3)
    mails = [s for s in inbox.subjects() if EMPTY.isoformat() in s]
    assert len(mails) == 1 and "NOT published" in mails[0], inbox.subjects()
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"]) as conn:
        assert not conn.execute(
            "select 1 from marts.published_nights where extract_date = %s", (EMPTY,)
        ).fetchone()
