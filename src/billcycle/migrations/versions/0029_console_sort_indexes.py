"""Console sort indexes

``(tenant_id, column, id)`` for the console's keyset-paged sort orders that had no index
of their own: invoices by invoice date, due date and amount, payments by effective date
and amount, accounts by name. Without them a page in those orders sorts all of the
tenant's rows (docs/benchmarks.md, "Console at a million accounts").

Revision ID: 0029_console
Revises: 0028
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029_console"
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


def upgrade() -> None:
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
