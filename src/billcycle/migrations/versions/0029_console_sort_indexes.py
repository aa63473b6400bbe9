"""Console sort indexes

``(tenant_id, column, id)`` for the console's keyset-paged sort orders that had no index
of their own: invoices by invoice date, due date and amount, payments by effective date
and amount, accounts by name; and ``ix_payments_failed``, the payments in Error only (the
dashboard's failed payments and their count, which otherwise read every payment). Without them a page in those orders sorts all of the
tenant's rows (docs/benchmarks.md, "Console at a million accounts").

Revision ID: 0029
Revises: 0028
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("invoices", "ix_invoices_tenant_date", ["tenant_id", "invoice_date", "id"]),
    ("invoices", "ix_invoices_tenant_due", ["tenant_id", "due_date", "id"]),
    ("invoices", "ix_invoices_tenant_amount", ["tenant_id", "amount_minor", "id"]),
    ("payments", "ix_payments_tenant_date", ["tenant_id", "effective_date", "id"]),
    ("payments", "ix_payments_tenant_amount", ["tenant_id", "amount_minor", "id"]),
    ("accounts", "ix_accounts_tenant_name", ["tenant_id", "name", "id"]),
)


FAILED = "status = 'Error'"


def upgrade() -> None:
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    op.create_index(
        "ix_payments_failed",
        "payments",
        ["tenant_id", "effective_date", "id"],
        unique=False,
        sqlite_where=sa.text(FAILED),
        postgresql_where=sa.text(FAILED),
    )
    bind = op.get_bind()
    if (
        bind.dialect.name == "sqlite"
        and bind.execute(sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first()
    ):
        # A database that was analysed (bill runs ANALYZE their tables) has statistics
        # for every index but these: without theirs SQLite's planner takes a new index
        # for the most selective one and sorts the tenant's accounts by number through a
        # temporary B-tree (3 s at a million accounts); analysing only the new indexes
        # leaves them at odds with older statistics of the same table. Analyse the three
        # tables afresh (seconds at a million rows).
        for table in sorted({table for table, _name, _columns in INDEXES}):
            op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    op.drop_index("ix_payments_failed", table_name="payments")
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
