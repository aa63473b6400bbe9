"""Bulk write-offs: records updated in place, balance lookups by invoice, fewer keys

A million-record BulkWriteOff inserts a million records and a million ledger entries and
moves every record twice (validated, processed), in set-based statements per chunk.

- ``ix_bulk_job_records_status`` (job, status) goes: every status change rewrote an entry
  of it, and with statistics that lag a big job's loading or validation PostgreSQL read a
  chunk's records through it, i.e. the whole job's records of that status, for every
  chunk. ``uq_bulk_job_records_seq`` (job, seq) serves every query of a job's records.
- PostgreSQL: ``bulk_job_records`` at fillfactor 50, so that both status changes of a
  record (whose columns are no longer indexed) are heap-only updates that touch no index.
- ``ix_ledger_entries_invoice`` becomes (invoice, tenant): every balance is "this
  tenant's entries of this invoice", and with the tenant only in
  ``ix_ledger_entries_account`` PostgreSQL without fresh statistics (a big write-off's
  first minutes) bitmap-ANDed the two indexes, reading every entry of the tenant for
  each invoice: 4.3 s instead of 0.02 s per thousand invoices at 100,000 entries.
- Redundant foreign keys go: ``bulk_job_records.tenant_id``, ``ledger_entries.tenant_id``
  and ``ledger_entries.account_id``. Each was a key check (a query and a FOR KEY SHARE
  lock on the parent row) for every inserted row, 3 to 4 microseconds on PostgreSQL here
  (a chunk of a thousand write-offs: 17 ms, of which 7.9 ms for the account and invoice
  keys' checks). They guarded
  nothing the remaining keys and the code do not: a record belongs to its job (kept,
  with its cascade), an entry to its invoice (kept, with its cascade), whose account and
  tenant keys stand; entries and records are written only by the ledger and bulk-job
  code, with the tenant and account of the invoice or job they read; and deleting an
  account deletes its entries explicitly (``accounts.repository``) before its invoices.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, constraint, column, referred table)
DROPPED_KEYS = (
    ("bulk_job_records", "fk_bulk_job_records_tenant_id_tenants", "tenant_id", "tenants"),
    ("ledger_entries", "fk_ledger_entries_tenant_id_tenants", "tenant_id", "tenants"),
    ("ledger_entries", "fk_ledger_entries_account_id_accounts", "account_id", "accounts"),
)
RECORDS_FILLFACTOR = 50


def upgrade() -> None:
    with op.batch_alter_table("bulk_job_records") as batch:
        batch.drop_index("ix_bulk_job_records_status")
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_index("ix_ledger_entries_invoice")
        batch.create_index("ix_ledger_entries_invoice", ["invoice_id", "tenant_id"], unique=False)
    for table in ("bulk_job_records", "ledger_entries"):
        with op.batch_alter_table(table) as batch:
            for owner, name, _column, _referred in DROPPED_KEYS:
                if owner == table:
                    batch.drop_constraint(name, type_="foreignkey")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE bulk_job_records SET (fillfactor = {RECORDS_FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE bulk_job_records RESET (fillfactor)")
    for table in ("bulk_job_records", "ledger_entries"):
        with op.batch_alter_table(table) as batch:
            for owner, name, column, referred in DROPPED_KEYS:
                if owner == table:
                    batch.create_foreign_key(name, referred, [column], ["id"], ondelete="CASCADE")
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_index("ix_ledger_entries_invoice")
        batch.create_index("ix_ledger_entries_invoice", ["invoice_id"], unique=False)
    with op.batch_alter_table("bulk_job_records") as batch:
        batch.create_index("ix_bulk_job_records_status", ["bulk_job_id", "status"], unique=False)
