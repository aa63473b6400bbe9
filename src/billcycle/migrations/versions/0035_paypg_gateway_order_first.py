"""ix_payments_gateway_order led by the order id: (gateway_order_id, tenant_id)

A payment run asks, each slice, which of its fresh gateway order ids an electronic
payment already used (``payments.pending_repository.orders_taken``). With the index led
by ``tenant_id``, every other tenant-led index of ``payments`` matched the look-up's
tenant condition as well, and while the table had no statistics (a run writes the
payments it then reads; autovacuum lags or is off) the planner took
``ix_payments_tenant_amount`` for it: every payment of the tenant read and compared with
every id, each slice, ~0.75 s a slice at 100,000 payments on PostgreSQL
(docs/benchmarks.md, "Payment runs on PostgreSQL at scale (session 8, paypg)"). Led by
the order id, the index is the only one the look-up (``gateway_order_id = ? AND
tenant_id + 0 = ?``) can use; the other readers (an order id within a tenant) use it as
before.

Revision ID: 0035_paypg_gateway_order_first
Revises: 0034
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0035_paypg_gateway_order_first"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_payments_gateway_order", table_name="payments")
    op.create_index(
        "ix_payments_gateway_order", "payments", ["gateway_order_id", "tenant_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_payments_gateway_order", table_name="payments")
    op.create_index(
        "ix_payments_gateway_order", "payments", ["tenant_id", "gateway_order_id"], unique=False
    )
