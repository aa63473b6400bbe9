"""Discount charges

``discount_level``, ``apply_discount_to`` and ``up_to_periods`` on catalog and
subscription charges (Zuora's Discount-Percentage and Discount-Fixed Amount models; the
percentage or amount is the charge's price).

Revision ID: 0025
Revises: 0024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("product_rate_plan_charges", "subscription_charges")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("discount_level", sa.String(length=20), nullable=True))
            batch_op.add_column(sa.Column("apply_discount_to", sa.String(length=40), nullable=True))
            batch_op.add_column(sa.Column("up_to_periods", sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in reversed(_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("up_to_periods")
            batch_op.drop_column("apply_discount_to")
            batch_op.drop_column("discount_level")
