"""Payment gateways per tenant, and the test gateway's charge book

``payment_gateways``: a tenant's configured gateways (type found through the
``billcycle.gateways`` entry-point group, settings as JSON), at most one default per
tenant (a partial unique index). ``test_gateway_charges``: the built-in test gateway's
own record of every sale, refund and void, one row per (tenant, idempotency key),
written outside billcycle's unit of work as a remote gateway's would be.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billcycle.db.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_gateways",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
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
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_payment_gateways_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_gateways")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_payment_gateways_tenant_id_name")),
    )
    with op.batch_alter_table("payment_gateways", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payment_gateways_one_default",
            ["tenant_id"],
            unique=True,
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )

    op.create_table(
        "test_gateway_charges",
        sa.Column(
            "gateway_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("token", sa.String(length=100), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("message", sa.String(length=200), nullable=True),
        sa.Column("settles_at", billcycle.db.types.UtcDateTime(), nullable=True),
        sa.Column("created_at", billcycle.db.types.UtcDateTime(), nullable=False),
        sa.Column("updated_at", billcycle.db.types.UtcDateTime(), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["payment_gateways.id"],
            name=op.f("fk_test_gateway_charges_gateway_id_payment_gateways"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["test_gateway_charges.id"],
            name=op.f("fk_test_gateway_charges_parent_id_test_gateway_charges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_test_gateway_charges_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_gateway_charges")),
        sa.UniqueConstraint(
            "tenant_id",
            "idempotency_key",
            name=op.f("uq_test_gateway_charges_tenant_id_idempotency_key"),
        ),
    )
    with op.batch_alter_table("test_gateway_charges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_test_gateway_charges_parent_id"), ["parent_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("test_gateway_charges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_gateway_charges_parent_id"))

    op.drop_table("test_gateway_charges")
    with op.batch_alter_table("payment_gateways", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_payment_gateways_one_default",
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )

    op.drop_table("payment_gateways")
