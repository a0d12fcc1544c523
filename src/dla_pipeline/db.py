"""Connections and schema migration."""

from __future__ import annotations

from importlib import resources

import psycopg

from .config import Settings, get_settings


def connect(settings: Settings | None = None, **kwargs) -> psycopg.Connection:
    settings = settings or get_settings()
    return psycopg.connect(settings.warehouse_url, **kwargs)


def migrate(settings: Settings | None = None) -> None:
    ddl = resources.files("dla_pipeline").joinpath("sql/schema.sql").read_text()
    with connect(settings, autocommit=True) as conn:
        # serialise concurrent migrations (two DAGs starting at once)
        conn.execute("select pg_advisory_lock(4242)")
        try:
            conn.execute(ddl)
        finally:
            conn.execute("select pg_advisory_unlock(4242)")
