"""Alembic environment: migrations run as the pipeline owner, one at a time.

The version table lives in ``ops.alembic_version``. A session advisory lock makes two
processes that migrate at once (two DAGs starting together) take turns.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

MIGRATION_LOCK = 4242

config = context.config


def run_migrations_online() -> None:
    engine = create_engine(config.attributes["sqlalchemy_url"], poolclass=NullPool)
    with engine.connect() as conn:
        conn.execute(text("select pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        conn.execute(text("create schema if not exists ops"))
        conn.commit()
        try:
            context.configure(
                connection=conn,
                version_table="alembic_version",
                version_table_schema="ops",
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            conn.commit()
        finally:
            conn.execute(text("select pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            conn.commit()
    engine.dispose()


if context.is_offline_mode():  # pragma: no cover - we only migrate online
    raise SystemExit("offline migrations are not supported: run `dla migrate`")
run_migrations_online()
