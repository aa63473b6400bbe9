"""Fewer index entries a payment's own writes make

A payment run writes, per payment, a Processing payment (PK + 8 index entries), its
PaymentReceived and Payment ledger entries (PK + 3 each), and the payment's settle
``UPDATE`` (PostgreSQL: a new row version, one entry in every index on it that holds
the new version). Two indexes held entries no statement reads:

- ``ix_ledger_entries_invoice`` (``invoice_id, tenant_id``) held every entry on no
  invoice (a payment's PaymentReceived, refunds and credits on the account): every
  reader names an invoice (``invoice_id = ?`` / ``IN``), which both databases prove
  implies ``invoice_id IS NOT NULL``. It now holds only entries on an invoice.
- ``ix_payments_gateway_order`` (``gateway_order_id, tenant_id``) held every
  electronic payment, whose gatewayOrderId is its own number unless the client gave
  another: those are found by ``uq_payments_tenant_id_number`` (``number = ? AND
  gateway_order_id = number``). It now holds only payments sent under another order
  id; its readers (``payments.pending_repository``) read both.

Revision ID: 0042_paywrites_partial_indexes
Revises: 0041_arsum_account_balances_lean
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042_paywrites_partial_indexes"
down_revision: str | None = "0041_arsum_account_balances_lean"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ON_INVOICE = "invoice_id IS NOT NULL"
OTHER_ORDER = "gateway_order_id <> number"


def upgrade() -> None:
    op.drop_index("ix_ledger_entries_invoice", table_name="ledger_entries")
    op.create_index(
        "ix_ledger_entries_invoice",
        "ledger_entries",
        ["invoice_id", "tenant_id"],
        unique=False,
        sqlite_where=sa.text(ON_INVOICE),
        postgresql_where=sa.text(ON_INVOICE),
    )
    op.drop_index("ix_payments_gateway_order", table_name="payments")
    op.create_index(
        "ix_payments_gateway_order",
        "payments",
        ["gateway_order_id", "tenant_id"],
        unique=False,
        sqlite_where=sa.text(OTHER_ORDER),
        postgresql_where=sa.text(OTHER_ORDER),
    )


def downgrade() -> None:
    op.drop_index("ix_payments_gateway_order", table_name="payments")
    op.create_index(
        "ix_payments_gateway_order", "payments", ["gateway_order_id", "tenant_id"], unique=False
    )
    op.drop_index("ix_ledger_entries_invoice", table_name="ledger_entries")
    op.create_index(
        "ix_ledger_entries_invoice", "ledger_entries", ["invoice_id", "tenant_id"], unique=False
    )
