"""Write-audit-publish: checked marts become visible to analysts in one transaction.

dbt builds marts as tables in ``marts_build`` (analysts cannot see it); the gate
checks them there. Publishing moves each table, renamed with a version suffix, to
``marts_store`` and points the stable view ``marts.<name>`` at it with
``CREATE OR REPLACE VIEW`` — all in one transaction. No data is copied (the cost is a
few catalog updates per mart, whatever the data size); a reader's statement sees
the previous night or the new one, never a mix; and because the view objects stay
the same, views that analysts build on marts keep working. A blocked night changes
nothing in ``marts``. Superseded versions are dropped afterwards, best effort.
"""

from __future__ import annotations

import logging
from datetime import date

import psycopg
from psycopg import sql

from . import ledger
from .config import Settings
from .db import connect
from .warehouse import READER_ROLE

log = logging.getLogger(__name__)
PUBLISH_LOCK = 4243


def _point_view(conn, name: str, versioned: str) -> None:
    view = sql.Identifier("marts", name)
    target = sql.Identifier("marts_store", versioned)
    kind = conn.execute(
        "select c.relkind from pg_class c join pg_namespace n on n.oid ="
        " c.relnamespace where n.nspname = 'marts' and c.relname = %s",
        (name,),
    ).fetchone()
    if kind and kind[0] == "r":  # a table from an older layout: becomes a view
        conn.execute(sql.SQL("drop table {} cascade").format(view))
    try:
        with conn.transaction():  # savepoint: the columns may have changed
            conn.execute(
                sql.SQL("create or replace view {} as select * from {}").format(view, target)
            )
    except (
        psycopg.errors.InvalidTableDefinition,
        psycopg.errors.DatatypeMismatch,
        psycopg.errors.FeatureNotSupported,
    ):
        log.warning("marts.%s changed shape: recreating the view (dependent views dropped)", name)
        conn.execute(sql.SQL("drop view {} cascade").format(view))
        conn.execute(sql.SQL("create view {} as select * from {}").format(view, target))
    conn.execute(sql.SQL("grant select on {} to {}").format(view, sql.Identifier(READER_ROLE)))


def publish(night: date, run_id: str = "cli", settings: Settings | None = None) -> list[str]:
    with connect(settings) as conn:
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))
            conn.execute("set local lock_timeout = '10min'")  # long analyst queries finish first
            tables = [
                r[0]
                for r in conn.execute(
                    "select table_name from information_schema.tables where table_schema="
                    "'marts_build' and table_type='BASE TABLE' order by table_name"
                ).fetchall()
            ]
            if not tables:
                raise RuntimeError("nothing to publish: marts_build is empty (did dbt run?)")
            nights = sorted(set(ledger.pending_nights(conn)) | {night})
            version = ledger.next_publish_version(conn)
            for t in tables:
                versioned = f"{t}__v{version}"
                conn.execute(
                    sql.SQL("alter table {} rename to {}").format(
                        sql.Identifier("marts_build", t), sql.Identifier(versioned)
                    )
                )
                conn.execute(
                    sql.SQL("alter table {} set schema marts_store").format(
                        sql.Identifier("marts_build", versioned)
                    )
                )
                _point_view(conn, t, versioned)
            reader = sql.Identifier(READER_ROLE)
            conn.execute(sql.SQL("grant usage on schema marts to {}").format(reader))
            conn.execute(
                sql.SQL("grant select on marts.published_nights, marts.data_as_of to {}").format(
                    reader
                )
            )
            for n in nights:
                conn.execute(
                    "insert into marts.published_nights values (%s, now(), %s)"
                    " on conflict (extract_date) do update set published_at = now(),"
                    " run_id = excluded.run_id",
                    (n, run_id),
                )
            ledger.record_publish(conn, night, run_id, "published", tables)
        drop_superseded(conn)
    log.info("published %s (%s): %s", night, run_id, ", ".join(tables))
    return tables


def drop_superseded(conn) -> list[str]:
    """Drop store tables no view points to any more (skipped while a reader holds them)."""
    orphans = [
        r[0]
        for r in conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = 'marts_store' and c.relkind = 'r' and not exists ("
            "   select 1 from pg_depend d where d.refobjid = c.oid"
            "   and d.classid = 'pg_rewrite'::regclass)"
        ).fetchall()
    ]
    dropped = []
    for name in orphans:
        try:
            with conn.transaction():
                conn.execute("set local lock_timeout = '2s'")
                conn.execute(sql.SQL("drop table {}").format(sql.Identifier("marts_store", name)))
            dropped.append(name)
        except psycopg.errors.LockNotAvailable:
            log.info("marts_store.%s still being read: dropped on a later publish", name)
    return dropped


def record_blocked(night: date, run_id: str, reason: str, settings: Settings | None = None) -> None:
    with connect(settings) as conn:
        ledger.record_publish(conn, night, run_id, "blocked", [], reason)
