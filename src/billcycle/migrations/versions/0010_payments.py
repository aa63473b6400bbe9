"""Payments and refunds; ledger entries name the payment (and invoice item) they move

``payments`` and ``refunds`` hold what a payment is; every movement of its money is a
``ledger_entries`` row with the new ``payment_id`` (applications per invoice item also
carry ``invoice_item_id``). Both columns are nullable and no existing entry names a
payment, so no data moves; on SQLite the columns are added in place (no table copy).

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billcycle.db.types


revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("payment_type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "payment_method_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "gateway_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("gateway_order_id", sa.String(length=50), nullable=True),
        sa.Column("gateway_state", sa.String(length=30), nullable=True),
        sa.Column("gateway_response", sa.String(length=500), nullable=True),
        sa.Column("gateway_response_code", sa.String(length=100), nullable=True),
        sa.Column("auth_transaction_id", sa.String(length=50), nullable=True),
        sa.Column("soft_descriptor", sa.String(length=35), nullable=True),
        sa.Column("reference_id", sa.String(length=100), nullable=True),
        sa.Column("comment", sa.String(length=255), nullable=True),
        sa.Column("submitted_at", billcycle.db.types.UtcDateTime(), nullable=True),
        sa.Column("settled_at", billcycle.db.types.UtcDateTime(), nullable=True),
        sa.Column("cancelled_at", billcycle.db.types.UtcDateTime(), nullable=True),
        sa.Column("deleted_at", billcycle.db.types.UtcDateTime(), nullable=True),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", billcycle.db.types.UtcDateTime(), nullable=False),
        sa.Column("updated_at", billcycle.db.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_payments_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_payments_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_payments_tenant_id_number")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_account", ["tenant_id", "account_id"], unique=False)

    op.create_table(
        "refunds",
        sa.Column(
            "payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("refund_type", sa.String(length=20), nullable=False),
        sa.Column("method_type", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("refund_date", sa.Date(), nullable=False),
        sa.Column("reason_code", sa.String(length=100), nullable=True),
        sa.Column("reference_id", sa.String(length=100), nullable=True),
        sa.Column("comment", sa.String(length=255), nullable=True),
        sa.Column("refund_transaction_type", sa.String(length=30), nullable=True),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", billcycle.db.types.UtcDateTime(), nullable=False),
        sa.Column("updated_at", billcycle.db.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_refunds_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_refunds_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_refunds_tenant_id_number")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index("ix_refunds_payment", ["tenant_id", "payment_id"], unique=False)

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "invoice_item_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.create_index(
            "ix_ledger_entries_payment", ["payment_id", "tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_payment")
        batch_op.drop_column("invoice_item_id")
        batch_op.drop_column("payment_id")

    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_refunds_payment")

    op.drop_table("refunds")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_account")

    op.drop_table("payments")
