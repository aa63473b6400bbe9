"""Open balances per (tenant, currency, due date)

The AR aging report's summary (``ledger.open_balances_repository``): the sum of the positive
balances of the posted invoices of each (tenant, currency, due date) and how many they
are, kept by the ledger's write paths. Backfilled here from the invoices and the ledger
in one ``INSERT ... SELECT`` (docs/benchmarks.md, "Receivables at a million open
invoices").

Revision ID: 0031
Revises: 0030
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The recomputation, as ``ledger.open_balances_repository.recomputed_query`` builds it (written out
# here: a migration does not import the models it may outlive).
BACKFILL = """
INSERT INTO open_balances (tenant_id, currency, due_date, balance_minor, invoices)
SELECT i.tenant_id, i.currency, i.due_date, sum(i.amount_minor - coalesce(a.applied, 0)),
       count(*)
FROM invoices i
LEFT OUTER JOIN (
    SELECT invoice_id, sum(amount_minor) AS applied
    FROM ledger_entries
    WHERE invoice_id IS NOT NULL
    GROUP BY invoice_id
) a ON a.invoice_id = i.id
WHERE i.status = 'Posted' AND i.amount_minor - coalesce(a.applied, 0) > 0
GROUP BY i.tenant_id, i.currency, i.due_date
"""


def upgrade() -> None:
    op.create_table(
        "open_balances",
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=False),
        sa.Column("invoices", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_open_balances_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "currency", "due_date", name=op.f("pk_open_balances")),
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table("open_balances")
