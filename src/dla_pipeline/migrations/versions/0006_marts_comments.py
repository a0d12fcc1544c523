"""Comments on the freshness objects in marts (the marts themselves get theirs at publish).

Revision ID: 0006
Revises: 0005
"""

from dla_pipeline.migrations import run_sql_file

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0006_marts_comments.sql")


def downgrade() -> None:
    raise NotImplementedError("restore from a backup to go back")
