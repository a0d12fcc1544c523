"""Publishing: move checked marts from ``marts_build`` into ``marts`` in one transaction.

Analysts and BI tools only have SELECT on ``marts``. dbt builds into
``marts_build``; after the quality gate passes, each table is swapped in with
``ALTER TABLE ... SET SCHEMA`` (no copy), so a reader sees the previous night or
the new one, never a mix. A blocked night leaves ``marts`` untouched.
"""

from __future__ import annotations

import logging
from datetime import date

from psycopg import sql

from .config import Settings
from .db import connect
from .warehouse import READER_ROLE

log = logging.getLogger(__name__)
PUBLISH_LOCK = 4243


def publish(night: date, run_id: str = "cli", settings: Settings | None = None) -> list[str]:
    with connect(settings) as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))
        tables = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema='marts_build'"
                " and table_type='BASE TABLE' order by table_name"
            ).fetchall()
        ]
        if not tables:
            raise RuntimeError("nothing to publish: marts_build is empty (did dbt run?)")
        for t in tables:
            conn.execute(sql.SQL("drop table if exists marts.{} cascade").format(sql.Identifier(t)))
            conn.execute(
                sql.SQL("alter table marts_build.{} set schema marts").format(sql.Identifier(t))
            )
            conn.execute(
                sql.SQL("grant select on marts.{} to {}").format(
                    sql.Identifier(t), sql.Identifier(READER_ROLE)
                )
            )
        conn.execute(
            sql.SQL("grant usage on schema marts to {}").format(sql.Identifier(READER_ROLE))
        )
        conn.execute(
            "create table if not exists marts.published_nights ("
            " extract_date date primary key, published_at timestamptz not null, run_id text not null)"
        )
        conn.execute(
            sql.SQL("grant select on marts.published_nights to {}").format(
                sql.Identifier(READER_ROLE)
            )
        )
        conn.execute(
            "insert into marts.published_nights values (%s, now(), %s) on conflict (extract_date)"
            " do update set published_at = now(), run_id = excluded.run_id",
            (night, run_id),
        )
        conn.execute(
            "insert into ops.publish_log (extract_date, run_id, status, marts)"
            " values (%s, %s, 'published', %s)",
            (night, run_id, tables),
        )
    log.info("published %s for %s: %s", run_id, night, ", ".join(tables))
    return tables


def record_blocked(night: date, run_id: str, reason: str, settings: Settings | None = None) -> None:
    with connect(settings) as conn:
        conn.execute(
            "insert into ops.publish_log (extract_date, run_id, status, marts, reason)"
            " values (%s, %s, 'blocked', '{}', %s)",
            (night, run_id, reason),
        )
