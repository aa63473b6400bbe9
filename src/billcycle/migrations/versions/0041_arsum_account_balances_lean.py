"""open_account_balances without its foreign key to tenants

A payment run's slice deletes the two rows (the invoice's aging bucket and ALL) of each
account it paid in full (``ledger.open_balances_repository.entries_applied_many``). With
foreign keys on, SQLite looked the tenant up for every row deleted (and inserted): ~0.7
µs a row, a third of the delete (docs/benchmarks.md, "AR summaries in a payment run
(session 10, arsum)"). The table is a summary the ledger's write paths keep (and
``billcycle db open-balances --repair`` rebuilds); a tenant is deleted only once it holds
no business data, which this table is asked for.

SQLite cannot drop a constraint: the table is copied into one without it (the same
``WITHOUT ROWID`` primary key and ``ix_open_account_balances_largest``).

Revision ID: 0041_arsum_account_balances_lean
Revises: 0040_sidecar_events_partial
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0041_arsum_account_balances_lean"
down_revision: str | None = "0040_sidecar_events_partial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_open_account_balances_tenant_id_tenants"
INDEX = (
    "CREATE INDEX ix_open_account_balances_largest ON open_account_balances "
    "(tenant_id, currency, bucket, balance_minor, account_id)"
)


def _sqlite_copy(foreign_key: bool) -> None:
    reference = (
        f", CONSTRAINT {FK} FOREIGN KEY(tenant_id) REFERENCES tenants (id) ON DELETE CASCADE"
        if foreign_key
        else ""
    )
    op.execute(
        "CREATE TABLE open_account_balances_copy ("
        "tenant_id INTEGER NOT NULL, currency VARCHAR(3) NOT NULL, "
        "bucket SMALLINT NOT NULL, account_id INTEGER NOT NULL, "
        "balance_minor BIGINT NOT NULL, invoices INTEGER NOT NULL, "
        "CONSTRAINT pk_open_account_balances "
        f"PRIMARY KEY (tenant_id, currency, bucket, account_id){reference}"
        ") WITHOUT ROWID"
    )
    op.execute(
        "INSERT INTO open_account_balances_copy "
        "SELECT tenant_id, currency, bucket, account_id, balance_minor, invoices "
        "FROM open_account_balances"
    )
    op.execute("DROP TABLE open_account_balances")
    op.execute("ALTER TABLE open_account_balances_copy RENAME TO open_account_balances")
    op.execute(INDEX)
    op.execute("ANALYZE open_account_balances")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(FK, "open_account_balances", type_="foreignkey")
    else:
        _sqlite_copy(foreign_key=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(
            FK, "open_account_balances", "tenants", ["tenant_id"], ["id"], ondelete="CASCADE"
        )
    else:
        _sqlite_copy(foreign_key=True)
