"""Baht loaded per file in the ledger (ops.files.amount_loaded): the gate's history of
each LAO's usual level reads the ledger instead of scanning months of raw rows.

Revision ID: 0007
Revises: 0006
"""

from dla_pipeline.migrations import run_sql_file

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0007_file_amounts.sql")


def downgrade() -> None:
    raise NotImplementedError("restore from a backup to go back")
