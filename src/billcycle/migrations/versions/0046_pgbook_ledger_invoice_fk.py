"""No foreign-key check on a ledger entry's invoice

A foreign-key check is a look-up of the parent row and a lock on it (PostgreSQL:
``SELECT 1 FROM invoices ... FOR KEY SHARE`` through SPI) for every inserted row. A
payment run writes one applied entry a payment: the check cost ~2.5-5 us of the
server's CPU a payment on PostgreSQL (measured on a 100k run's database, its inserts
with and without the constraint, the invoices already locked by the slice as the run
locks them), a tenth of the run's ledger insert. It protected nothing the writers do
not already:

- every writer of an entry on an invoice names an invoice it read under its tenant
  (a payment run's slice after locking its invoices);
- invoices are deleted only by ``accounts.repository.delete_account_cascade`` (which
  deleted the account's entries first already) and ``billruns.repository.delete_run``
  (a Canceled or Error bill run's invoices), which now deletes those invoices' entries
  itself, as the cascade did.

SQLite enforces foreign keys too (``PRAGMA foreign_keys=ON``): the constraint goes
there as well (the table rebuilt, its indexes made again as the model declares them),
so both databases keep one schema.

Revision ID: 0046_pgbook_ledger_invoice_fk
Revises: 0045_once_payments_in_flight
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0046_pgbook_ledger_invoice_fk"
down_revision: str | None = "0045_once_payments_in_flight"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "fk_ledger_entries_invoice_id_invoices"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(NAME, "ledger_entries", type_="foreignkey")
        return
    with op.batch_alter_table("ledger_entries", recreate="always") as batch:
        batch.drop_constraint(NAME, type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(
            NAME, "ledger_entries", "invoices", ["invoice_id"], ["id"], ondelete="CASCADE"
        )
        return
    with op.batch_alter_table("ledger_entries", recreate="always") as batch:
        batch.create_foreign_key(NAME, "invoices", ["invoice_id"], ["id"], ondelete="CASCADE")
