"""Access for people (province scoping), erasure tombstones, the purge log; gate views
move out of ops.

Revision ID: 0004
Revises: 0003
"""

from dla_pipeline.migrations import run_sql_file

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0004_access.sql")


def downgrade() -> None:
    raise NotImplementedError("restore from a backup to go back")
