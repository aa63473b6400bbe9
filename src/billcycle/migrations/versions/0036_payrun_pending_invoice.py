"""A payment run's payment holds its one intention on its own row

A payment run writes, per payment, an intention row (``payment_pending_applications``:
its whole amount to its one invoice) in the slice's begin and deletes it in the finish.
The payment now carries that invoice itself (``payments.pending_invoice_id``, set while
Processing, cleared when it settles or fails); every reader of intentions reads both
shapes. A partial index holds only the payments whose intention is open, so "is this
invoice being paid?" stays one index probe. Payments begun before this migration keep
their intention rows, which are read and settled as before: no data moves.

Revision ID: 0036_payrun_pending_invoice
Revises: 0035_paypg_gateway_order_first
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036_payrun_pending_invoice"
down_revision: str | None = "0035_paypg_gateway_order_first"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "pending_invoice_id IS NOT NULL"


def upgrade() -> None:
    op.add_column(
        "payments",
        sa.Column(
            "pending_invoice_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
    )
    op.create_index(
        "ix_payments_pending_invoice",
        "payments",
        ["tenant_id", "pending_invoice_id"],
        unique=False,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    # An open intention held on a payment goes back to an intention row first.
    op.execute(
        "INSERT INTO payment_pending_applications "
        "(tenant_id, payment_id, invoice_id, invoice_item_id, amount_minor) "
        "SELECT tenant_id, id, pending_invoice_id, NULL, amount_minor FROM payments "
        "WHERE pending_invoice_id IS NOT NULL"
    )
    op.drop_index("ix_payments_pending_invoice", table_name="payments")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("pending_invoice_id")
