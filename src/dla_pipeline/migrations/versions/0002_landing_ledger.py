"""The landing zone as a trust boundary: entries of every kind, reason codes, landing
issues, the LAO-night change log and retracted rows, runs, the gate's severity column.

Revision ID: 0002
Revises: 0001
"""

from dla_pipeline.migrations import run_sql_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0002_landing_ledger.sql")


def downgrade() -> None:
    raise NotImplementedError("restore from a backup to go back to release 0.1")
