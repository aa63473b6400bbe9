"""Payments by gateway order id

``payments (tenant_id, gateway_order_id)``: charging looks up the earlier attempts of a
``gatewayOrderId`` for every payment it begins (its attempt key). Without the index each
lookup scanned the tenant's payments, so a payment run slowed as its payments grew.

Revision ID: 0020
Revises: 0017
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_payments_gateway_order", "payments", ["tenant_id", "gateway_order_id"])


def downgrade() -> None:
    op.drop_index("ix_payments_gateway_order", table_name="payments")
