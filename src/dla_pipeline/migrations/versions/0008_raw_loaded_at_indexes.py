"""The raw tables' loaded_at indexes go: nothing reads raw rows by load time, and each
index cost every COPY (0008_raw_loaded_at_indexes.sql).

Revision ID: 0008
Revises: 0007
"""

from dla_pipeline.migrations import run_sql_file

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0008_raw_loaded_at_indexes.sql")


def downgrade() -> None:
    raise NotImplementedError("restore from a backup to go back")
