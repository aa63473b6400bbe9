"""Payment activities

``payment_activities``: every attempt to collect or refund money (Fusebill's payment
activities), successful or failed; a failed attempt has no payment.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billcycle.db.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "payment_activities",
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("payment_id", _ID, nullable=True),
        sa.Column("refund_id", _ID, nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("transaction_type", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("method_kind", sa.String(length=20), nullable=False),
        sa.Column("method", sa.String(length=100), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=500), nullable=True),
        sa.Column("gateway_code", sa.String(length=100), nullable=True),
        sa.Column("gateway_message", sa.String(length=500), nullable=True),
        sa.Column("effective_at", billcycle.db.types.UtcDateTime(), nullable=False),
        sa.Column("created_at", billcycle.db.types.UtcDateTime(), nullable=False),
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", _ID, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_activities")),
    )
    op.create_index(
        "ix_payment_activities_account",
        "payment_activities",
        ["tenant_id", "account_id"],
        unique=False,
    )
    op.create_index(
        "ix_payment_activities_payment",
        "payment_activities",
        ["payment_id", "tenant_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_payment_activities_payment", table_name="payment_activities")
    op.drop_index("ix_payment_activities_account", table_name="payment_activities")
    op.drop_table("payment_activities")
