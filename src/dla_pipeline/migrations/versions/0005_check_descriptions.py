"""The description of each quality check beside its outcome.

Revision ID: 0005
Revises: 0004
"""

from dla_pipeline.migrations import run_sql_file

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0005_check_descriptions.sql")


def downgrade() -> None:
    raise NotImplementedError("restore from a backup to go back")
