"""Tenant test clocks

``tenants.test_clock_at``: a sandbox tenant's business time (NULL for a production
tenant, which reads the real clock). A plain nullable column, so SQLite adds it without
rebuilding the table.

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billcycle.db.types

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("test_clock_at", billcycle.db.types.UtcDateTime(), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("test_clock_at")
