"""Open balances per (tenant, currency, aging bucket, account), and their date

The aging drill-down's summary (``ledger.open_balances_repository.OpenAccountBalance``):
per account the sum of the positive balances of its posted invoices in each aging bucket
(counted at ``open_balance_aging.as_of``) and in all of them (bucket 5), with an index
that reads "largest balances first" per bucket. Backfilled here from the invoices and the
ledger, counted at today's UTC date (any date is right: the rows say which; a tenant's
first drill-down moves them to its business date).

Revision ID: 0033
Revises: 0032
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ``open_balances_repository.recomputed_accounts_query`` written out (a migration does not
# import the models it may outlive).
BACKFILL = """
WITH o AS (
    SELECT i.tenant_id, i.currency, i.account_id,
           CASE WHEN i.due_date >= :d0 THEN 0 WHEN i.due_date >= :d30 THEN 1
                WHEN i.due_date >= :d60 THEN 2 WHEN i.due_date >= :d90 THEN 3 ELSE 4
           END AS bucket,
           i.amount_minor - coalesce(a.applied, 0) AS owed
    FROM invoices i
    LEFT OUTER JOIN (
        SELECT invoice_id, sum(amount_minor) AS applied
        FROM ledger_entries
        WHERE invoice_id IS NOT NULL
        GROUP BY invoice_id
    ) a ON a.invoice_id = i.id
    WHERE i.status = 'Posted'
)
INSERT INTO open_account_balances
    (tenant_id, currency, bucket, account_id, balance_minor, invoices)
SELECT o.tenant_id, o.currency, o.bucket, o.account_id, sum(o.owed), count(*)
FROM o
WHERE o.owed > 0
GROUP BY o.tenant_id, o.currency, o.bucket, o.account_id
UNION ALL
SELECT o.tenant_id, o.currency, 5, o.account_id, sum(o.owed), count(*)
FROM o
WHERE o.owed > 0
GROUP BY o.tenant_id, o.currency, o.account_id
"""


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "open_account_balances",
        sa.Column("tenant_id", bigid, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("account_id", bigid, nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=False),
        sa.Column("invoices", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_open_account_balances_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "currency", "bucket", "account_id", name=op.f("pk_open_account_balances")
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_open_account_balances_largest",
        "open_account_balances",
        ["tenant_id", "currency", "bucket", "balance_minor", "account_id"],
    )
    op.create_table(
        "open_balance_aging",
        sa.Column("tenant_id", bigid, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_open_balance_aging_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_open_balance_aging")),
    )
    today = datetime.now(UTC).date()
    dates = [
        sa.bindparam(name, today - timedelta(days=days), type_=sa.Date)
        for name, days in (("d0", 0), ("d30", 30), ("d60", 60), ("d90", 90))
    ]
    op.execute(
        sa.text(
            "INSERT INTO open_balance_aging (tenant_id, as_of) SELECT id, :d0 FROM tenants"
        ).bindparams(dates[0])
    )
    op.execute(sa.text(BACKFILL).bindparams(*dates))
    # Statistics for the new table (without them PostgreSQL read a bucket through the
    # primary key and sorted it: docs/benchmarks.md, "Receivables drill-down (session 4)").
    op.execute("ANALYZE open_account_balances")


def downgrade() -> None:
    op.drop_table("open_balance_aging")
    op.drop_index("ix_open_account_balances_largest", table_name="open_account_balances")
    op.drop_table("open_account_balances")
