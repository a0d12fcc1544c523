"""Baseline: the raw and ops schema of release 0.1 (created with `if not exists`).

A warehouse created by release 0.1 already has these objects, so this revision is a
no-op there and the later revisions upgrade it in place.

Revision ID: 0001
Revises:
"""

from dla_pipeline.migrations import run_sql_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0001_baseline.sql")


def downgrade() -> None:
    raise NotImplementedError("the baseline is not reversible")
