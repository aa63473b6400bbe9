"""Index a bill run's failures by (run, id)

GET /bill-runs/{id} shows a run's first 20 failures, oldest first. With an index on the
run alone PostgreSQL read and sorted every failure of the run (a run over a million
accounts can have many); with (run, id) it reads the first 20 entries and stops.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_bill_run_failures_run", table_name="bill_run_failures")
    op.create_index(
        "ix_bill_run_failures_run_id", "bill_run_failures", ["bill_run_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_bill_run_failures_run_id", table_name="bill_run_failures")
    op.create_index("ix_bill_run_failures_run", "bill_run_failures", ["bill_run_id"], unique=False)
