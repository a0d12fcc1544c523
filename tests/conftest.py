"""Tests run against the real embedded PostgreSQL, in a separate database ``dla_test``.

The database is dropped and recreated once per session; the landing zone and run
folder are temporary. Nothing here touches the dev database ``dla``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from dla_pipeline import warehouse
from dla_pipeline.airflow_env import airflow_env
from dla_pipeline.config import PgUrl, project_root, read_env_file

TEST_DB = "dla_test"


def _env() -> dict[str, str]:
    env = read_env_file(project_root() / ".env")
    if not warehouse.admin_configured():
        pytest.exit("no warehouse configured: run `make setup` first", returncode=2)
    return env


@pytest.fixture(scope="session")
def warehouse_db(tmp_path_factory) -> dict[str, str]:
    env = _env()
    if warehouse.embedded_in_use():
        warehouse.start_embedded()
        env = read_env_file(project_root() / ".env")
    admin = warehouse.admin_conninfo()
    owner = PgUrl.parse(os.environ.get("WAREHOUSE_URL") or env["WAREHOUSE_URL"])
    analyst = PgUrl.parse(os.environ.get("ANALYST_URL") or env["ANALYST_URL"])
    warehouse.drop_database(admin, TEST_DB)
    base = tmp_path_factory.mktemp("dla")
    urls = {
        "WAREHOUSE_URL": owner.url(TEST_DB),
        "ANALYST_URL": analyst.url(TEST_DB),
        "LANDING_DIR": str(base / "landing"),
        "RUNS_DIR": str(base / "runs"),
        "PSEUDONYM_KEY": "test-key-not-secret",
        "PSEUDONYM_KEY_VERSION": "1",
        "ERASURE_KEY": "test-erasure-key-not-secret",
        "INGEST_BATCHES": "3",
        # Airflow metadata of its own: test runs never leave assets or runs in the dev DB
        "AIRFLOW_HOME": str(base / "airflow"),
    }
    old = {k: os.environ.get(k) for k in urls}
    os.environ.update(urls)
    from dla_pipeline import access
    from dla_pipeline.config import get_settings

    settings = get_settings()
    access.provision(admin, warehouse.admin_conninfo(dbname=TEST_DB), settings)
    access.ensure_dev_analyst(
        warehouse.admin_conninfo(dbname=TEST_DB), urls["ANALYST_URL"], settings
    )
    subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        env=airflow_env(),
        check=True,
        capture_output=True,
    )
    yield urls
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def landing(warehouse_db) -> Path:
    return Path(warehouse_db["LANDING_DIR"])


@pytest.fixture
def owner_conn(warehouse_db):
    with psycopg.connect(warehouse_db["WAREHOUSE_URL"], autocommit=True) as conn:
        yield conn


@pytest.fixture
def analyst_conn(warehouse_db):
    with psycopg.connect(warehouse_db["ANALYST_URL"], autocommit=True) as conn:
        yield conn


def write_extract(
    landing: Path, source: str, night: str, name: str, text: str | bytes, encoding: str = "utf-8"
) -> Path:
    path = landing / source / night / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return path


LOADED_TABLES = (
    "raw.allowance_payments",
    "raw.tax_receipts",
    "raw.vaccination_reports",
    "raw.allowance_payments_retracted",
    "raw.tax_receipts_retracted",
    "raw.vaccination_reports_retracted",
    "ops.lao_night_changes",
    "ops.landing_issues",
    "ops.runs",
    "ops.files",
    "ops.quarantine",
    "ops.file_loads",
    "ops.nights",
    "ops.submissions",
)


def reset_loaded_data(warehouse_url: str, landing: Path) -> None:
    """Empty the landing zone and everything loaded from it (facts rebuild with full refresh)."""
    import shutil

    shutil.rmtree(landing, ignore_errors=True)
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(f"truncate {', '.join(LOADED_TABLES)}")
        # the next build rebuilds every fact from what is loaded now
        if conn.execute("select to_regclass('core.model_watermarks')").fetchone()[0]:
            conn.execute("truncate core.model_watermarks")
