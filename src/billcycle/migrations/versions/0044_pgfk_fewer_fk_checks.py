"""Fewer foreign-key checks on a payment run's inserts; run records' pages half full

A foreign-key check is a look-up of the parent row and a lock on it (PostgreSQL:
``SELECT 1 ... FOR KEY SHARE``, a dirtied page and a WAL record) for every inserted row:
measured ~5-11 us a row on PostgreSQL, as much as the insert itself. A payment run
checked, per payment, the payment's account, its collections event's account, its test
gateway charge's gateway (the same one row for every charge of every worker) and, per
record at the run's start, the record's run and tenant (the same two rows for all of
them). None of these checks protects anything the code does not already:

- ``payments.account_id``, ``collection_events.account_id``: an account is deleted only
  by ``accounts.repository.delete_account_cascade`` (refused once it has posted invoices
  or ledger entries), which now deletes both itself; every writer names an account it
  read under its tenant. (Kill Bill declares no foreign keys at all.)
- ``test_gateway_charges.gateway_id``: gateways are never deleted (deactivated).
- ``payment_run_data.payment_run_id`` / ``tenant_id``: records are inserted in the
  transaction that creates the run; ``paymentruns.repository.delete_run`` deletes them
  before the run; a tenant with data is not deletable.

Kept: ``ledger_entries.invoice_id`` (many writers besides the run: credits, write-offs,
refunds, API payments; the bill run's delete relies on its cascade) and
``test_gateway_charges.parent_id`` (NULL for a sale: no look-up).

PostgreSQL: ``payment_run_data`` at fillfactor 50 (was 30, for three writes a record):
a record is written twice now (the run's start, the claim that names its payment), so
half a page leaves room for the claim's version on the record's own page.

SQLite enforces foreign keys too (``PRAGMA foreign_keys=ON``): the same constraints go
(each table rebuilt, its indexes made again as the models declare them).

Revision ID: 0044_pgfk_fewer_fk_checks
Revises: 0043_lead_sqlite_database_mark
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0044_pgfk_fewer_fk_checks"
down_revision: str | None = "0043_lead_sqlite_database_mark"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, constraint, column, parent table)
DROPPED = (
    ("payments", "fk_payments_account_id_accounts", "account_id", "accounts"),
    ("collection_events", "fk_collection_events_account_id_accounts", "account_id", "accounts"),
    (
        "test_gateway_charges",
        "fk_test_gateway_charges_gateway_id_payment_gateways",
        "gateway_id",
        "payment_gateways",
    ),
    (
        "payment_run_data",
        "fk_payment_run_data_payment_run_id_payment_runs",
        "payment_run_id",
        "payment_runs",
    ),
    ("payment_run_data", "fk_payment_run_data_tenant_id_tenants", "tenant_id", "tenants"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, name, _column, _parent in DROPPED:
            op.drop_constraint(name, table, type_="foreignkey")
        op.execute("ALTER TABLE payment_run_data SET (fillfactor = 50)")
        return
    tables: dict[str, list[str]] = {}
    for table, name, _column, _parent in DROPPED:
        tables.setdefault(table, []).append(name)
    for table, names in tables.items():
        with op.batch_alter_table(table, recreate="always") as batch:
            for name in names:
                batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE payment_run_data SET (fillfactor = 30)")
        for table, name, column, parent in DROPPED:
            op.create_foreign_key(name, table, parent, [column], ["id"], ondelete="CASCADE")
        return
    tables: dict[str, list[tuple[str, str, str]]] = {}
    for table, name, column, parent in DROPPED:
        tables.setdefault(table, []).append((name, column, parent))
    for table, keys in tables.items():
        with op.batch_alter_table(table, recreate="always") as batch:
            for name, column, parent in keys:
                batch.create_foreign_key(name, parent, [column], ["id"], ondelete="CASCADE")
