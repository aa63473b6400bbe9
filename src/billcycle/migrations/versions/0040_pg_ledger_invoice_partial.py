"""ix_ledger_entries_invoice without the entries on no invoice (PostgreSQL)

A payment writes two ledger entries: the money received (``PaymentReceived``, on no
invoice) and its application to the invoice. ``ix_ledger_entries_invoice`` held an
entry for both; every statement that reads it names an invoice (``invoice_id = ...``:
an invoice's balance, its entries, the foreign key's cascade), which PostgreSQL proves
implies ``invoice_id IS NOT NULL``, so the partial index serves them all and a payment
run writes one index entry fewer a payment. SQLite keeps the full index.

Revision ID: 0040_pg_ledger_invoice_partial
Revises: 0039_paypg_hot_updates
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040_pg_ledger_invoice_partial"
down_revision: str | None = "0039_paypg_hot_updates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_ledger_entries_invoice", table_name="ledger_entries")
    op.create_index(
        "ix_ledger_entries_invoice",
        "ledger_entries",
        ["invoice_id", "tenant_id"],
        unique=False,
        postgresql_where=sa.text("invoice_id IS NOT NULL"),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_ledger_entries_invoice", table_name="ledger_entries")
    op.create_index(
        "ix_ledger_entries_invoice", "ledger_entries", ["invoice_id", "tenant_id"], unique=False
    )
