"""Versioned warehouse schema (raw, ops) with Alembic; see ``dla_pipeline.db.migrate``.

Each revision in ``versions/`` runs a plain SQL file kept beside it.
"""

from __future__ import annotations

from pathlib import Path

VERSIONS = Path(__file__).with_name("versions")


def run_sql_file(name: str) -> None:
    from alembic import op

    sql = (VERSIONS / name).read_text()
    # straight to psycopg without parameters: no placeholder parsing, several statements
    # in one call, inside the migration's transaction
    op.get_bind().connection.driver_connection.execute(sql)
