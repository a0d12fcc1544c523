"""Tests run against the real embedded PostgreSQL, in a separate database ``dla_test``.

The database is dropped and recreated once per session; the landing zone and run
folder are temporary. Nothing here touches the dev database ``dla``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from email import message_from_bytes
from pathlib import Path

import psycopg
import pytest

from dla_pipeline import warehouse
from dla_pipeline.airflow_env import airflow_env
from dla_pipeline.config import PgUrl, project_root, read_env_file

# DLA_TEST_DB lets two test sessions share one server (e.g. a BI check beside the suite)
TEST_DB = os.environ.get("DLA_TEST_DB", "dla_test")
TEST_AIRFLOW_DB = os.environ.get("DLA_TEST_AIRFLOW_DB", "airflow_test")


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
    warehouse.drop_database(admin, TEST_AIRFLOW_DB)
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
        # Airflow metadata of its own (database and role): test runs never touch the dev one
        "AIRFLOW_HOME": str(base / "airflow"),
        "AIRFLOW_DB_NAME": TEST_AIRFLOW_DB,
        "AIRFLOW_DB_USER": TEST_AIRFLOW_DB,
        "AIRFLOW_DB_PASSWORD": "airflow-test-not-secret",
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


# each mart compared by the equivalence tests, with the order that makes a snapshot stable
MART_KEYS = {
    "allowance_by_province": "province_code, payment_period, age_tier",
    "allowance_by_lao_period": "lao_code, payment_period, age_tier",
    "allowance_findings": "finding, person_key, lao_code, payment_period",  # restricted
    "revenue_by_lao_account": "lao_code, fiscal_year_be, account_code",
    "rabies_coverage_by_lao": "lao_code, fiscal_year_be",
    "rabies_coverage_by_province": "province_code, fiscal_year_be",
    "lao_scorecard": "lao_code, fiscal_year_be",
    "province_summary": "province_code, fiscal_year_be",
}


def mart_snapshot(conn, published: bool = False) -> dict:
    """Every mart of MART_KEYS, ordered: as built (``*_build``) or as published."""
    suffix = "" if published else "_build"
    return {
        m: conn.execute(
            f"select * from {'restricted' if m == 'allowance_findings' else 'marts'}{suffix}.{m}"
            f" order by {k}"
        ).fetchall()
        for m, k in MART_KEYS.items()
    }


def reset_loaded_data(warehouse_url: str, landing: Path) -> None:
    """Empty the landing zone and everything loaded from it (facts rebuild with full refresh)."""
    import shutil

    shutil.rmtree(landing, ignore_errors=True)
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(f"truncate {', '.join(LOADED_TABLES)}")
        # the next build rebuilds every fact from what is loaded now
        if conn.execute("select to_regclass('core.model_watermarks')").fetchone()[0]:
            conn.execute("truncate core.model_watermarks")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """A local SMTP server (aiosmtpd) that keeps what it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list = []
        inbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                inbox.messages.append(message_from_bytes(envelope.content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @staticmethod
    def body(message) -> str:
        parts = message.walk() if message.is_multipart() else [message]
        return "\n".join(p.get_payload(decode=True).decode() for p in parts if not p.is_multipart())

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]

    def close(self):
        self.controller.stop()


@pytest.fixture
def inbox(warehouse_db, monkeypatch):
    """Alerts go to a local SMTP server for the test (ALERT_EMAIL and smtp_default set)."""
    import json as _json

    box = Inbox()
    monkeypatch.setenv("ALERT_EMAIL", "oncall@dla.test")
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(box.port))
    conn = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": box.port,
        "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 10, "retry_limit": 1},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", _json.dumps(conn))
    yield box
    box.close()
