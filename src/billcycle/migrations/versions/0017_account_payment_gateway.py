"""Account payment gateway

``accounts.payment_gateway_id``: Zuora's ``paymentGateway`` on an account, the gateway
its payment methods are charged through when they name none (NULL: the tenant's
default). A plain column (no foreign key), so SQLite adds it without rebuilding the
accounts table.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column(
            "payment_gateway_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("payment_gateway_id")
