"""Pseudonym key versions: a key_version column beside every hash in raw.

Revision ID: 0003
Revises: 0002
"""

from dla_pipeline.migrations import run_sql_file

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0003_pseudonym_versions.sql")


def downgrade() -> None:
    raise NotImplementedError("restore from a backup to go back")
