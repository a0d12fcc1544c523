"""A warehouse deployed by release 0.1 (schema made with `if not exists` DDL, no Alembic
version) upgrades in place to the newest revision, keeps every row, and gains the new
columns; upgrading again is a no-op."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from dla_pipeline import access, warehouse
from dla_pipeline.config import PgUrl, get_settings
from dla_pipeline.db import current_revision, head_revision

RELEASE_0_1 = Path(__file__).with_name("fixtures") / "schema_release_0_1.sql"
UPGRADE_DB = "dla_upgrade_test"

ROWS = {
    "raw.allowance_payments": (
        "insert into raw.allowance_payments (load_id, lao_code, extract_date, source_file,"
        " file_sha256, row_no, citizen_id, person_key, birth_date, birth_date_precision,"
        " payment_period, amount, paid_on, channel, status)"
        " values (1, '3510101', '2026-10-01', 'allowance/2026-10-01/3510101.csv', 'ab', 2,"
        " '1101700203451', 'pk', '1950-01-01', 'day', '2026-10-01', 700, '2026-10-10',"
        " 'bank', 'paid')"
    ),
    "ops.nights": (
        "insert into ops.nights (source, extract_date, files, files_rejected, laos_reporting,"
        " rows_in, rows_loaded, rows_quarantined, conservation_ok)"
        " values ('allowance', '2026-10-01', 1, 0, 1, 1, 1, 0, true)"
    ),
    "ops.quality_results": (
        "insert into ops.quality_results (run_id, extract_date, suite, expectation, success)"
        " values ('r1', '2026-10-01', 'raw_allowance_night', 'expect_x', true)"
    ),
    "ops.quarantine": (
        "insert into ops.quarantine (load_id, source, extract_date, file_name, reason)"
        " values (1, 'allowance', '2026-10-01', 'x.csv', 'bad amount')"
    ),
}


@pytest.fixture
def release_0_1(warehouse_db, monkeypatch):
    """A database laid out exactly as release 0.1 left it, with a little data in it."""
    admin = warehouse.admin_conninfo()
    owner = PgUrl.parse(warehouse_db["WAREHOUSE_URL"])
    warehouse.drop_database(admin, UPGRADE_DB)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create database {} owner {}").format(
                sql.Identifier(UPGRADE_DB), sql.Identifier(owner.user)
            )
        )
    url = owner.url(UPGRADE_DB)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(RELEASE_0_1.read_text())
        for insert in ROWS.values():
            conn.execute(insert)
    monkeypatch.setenv("WAREHOUSE_URL", url)
    monkeypatch.setenv("ANALYST_URL", PgUrl.parse(warehouse_db["ANALYST_URL"]).url(UPGRADE_DB))
    yield url
    monkeypatch.undo()
    warehouse.drop_database(admin, UPGRADE_DB)


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in ROWS}


def test_a_release_0_1_warehouse_upgrades_in_place_without_losing_rows(release_0_1):
    settings = get_settings()
    assert current_revision(settings) is None  # 0.1 had no version table
    before = _counts(release_0_1)
    admin = warehouse.admin_conninfo()
    access.provision(admin, warehouse.admin_conninfo(dbname=UPGRADE_DB), settings)
    assert current_revision(settings) == head_revision()
    assert _counts(release_0_1) == before
    with psycopg.connect(release_0_1) as conn:
        cols = {
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns"
                " where table_schema = 'ops' and table_name = 'quality_results'"
            )
        }
        assert {"description"} <= cols  # a column added after 0.1 (revision 0005)
        reason_code = conn.execute(
            "select count(*) from information_schema.columns"
            " where table_schema = 'ops' and table_name = 'quarantine'"
            " and column_name = 'reason_code'"
        ).fetchone()[0]
        assert reason_code == 1
        # indexes nothing reads are gone (revision 0008: each cost every COPY)
        assert not conn.execute(
            "select indexname from pg_indexes where schemaname = 'raw' and indexname like '%_loaded'"
        ).fetchall()
        # the 0.1 row is still there, with its values
        assert conn.execute(
            "select amount, status from raw.allowance_payments where lao_code = '3510101'"
        ).fetchone() == (700, "paid")
    # upgrading a current warehouse changes nothing
    access.provision(admin, warehouse.admin_conninfo(dbname=UPGRADE_DB), settings)
    assert current_revision(settings) == head_revision()
    assert _counts(release_0_1) == before
