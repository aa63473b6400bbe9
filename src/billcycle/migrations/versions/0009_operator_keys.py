"""Operator keys for billcycle's admin API

Operators manage tenants, so their keys belong to no tenant. A tenant's OAuth clients
and API keys were already one-to-many (``oauth_clients``/``api_keys`` by ``tenant_id``),
so the admin API manages them in place: no table or data changes for them.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billcycle.db.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operator_keys",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("secret_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", billcycle.db.types.UtcDateTime(), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_operator_keys_key_id")),
        sa.UniqueConstraint("name", name=op.f("uq_operator_keys_name")),
    )


def downgrade() -> None:
    op.drop_table("operator_keys")
