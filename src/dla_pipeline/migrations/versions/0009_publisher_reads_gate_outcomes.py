"""The publisher reads when its run's gate recorded its outcomes (ops.quality_results), so
a publish refuses a build that began after its gate (0009_publisher_reads_gate_outcomes.sql).

Revision ID: 0009
Revises: 0008
"""

from dla_pipeline.migrations import run_sql_file

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0009_publisher_reads_gate_outcomes.sql")


def downgrade() -> None:
    raise NotImplementedError("restore from a backup to go back")
