"""Drop the redundant foreign keys of the rows a payment run writes per payment

A payment run's slice writes, for each payment, a payment, its pending application, the
test gateway's book row and collections' outcome event. On PostgreSQL each foreign key
is a trigger that looks the parent row up and locks it (FOR KEY SHARE) for every row:
about a third of the database server's CPU of a 20,000-payment run went to those checks
(docs/benchmarks.md, "Payment runs on PostgreSQL (session 7, paypg)"). The tenant keys
guard nothing the code does not: each of these rows also hangs off a parent that
cascades from the tenant (the payment's account, the application's payment, the book
row's gateway, the event's account), and their tenant column is written only from the
parent read in the same transaction (as for invoices, migration 0004). The pending
application's invoice key goes too: its parent link is the payment (deleting an account
deletes its payments, and a posted invoice is never deleted). Kept: ``payments.account_id``,
``payment_pending_applications.payment_id``, ``test_gateway_charges.gateway_id`` and
``parent_id``, ``collection_events.account_id``.

Revision ID: 0034
Revises: 0033
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, constraint, column, referred table, on delete)
DROPPED = (
    ("payments", "fk_payments_tenant_id_tenants", "tenant_id", "tenants", "CASCADE"),
    (
        "payment_pending_applications",
        "fk_payment_pending_applications_tenant_id_tenants",
        "tenant_id",
        "tenants",
        "CASCADE",
    ),
    (
        "payment_pending_applications",
        "fk_payment_pending_applications_invoice_id_invoices",
        "invoice_id",
        "invoices",
        "CASCADE",
    ),
    (
        "test_gateway_charges",
        "fk_test_gateway_charges_tenant_id_tenants",
        "tenant_id",
        "tenants",
        "CASCADE",
    ),
    (
        "collection_events",
        "fk_collection_events_tenant_id_tenants",
        "tenant_id",
        "tenants",
        "CASCADE",
    ),
)
TABLES = ("payments", "payment_pending_applications", "test_gateway_charges", "collection_events")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for owner, name, _column, _referred, _ondelete in DROPPED:
                if owner == table:
                    batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table) as batch:
            for owner, name, column, referred, ondelete in DROPPED:
                if owner == table:
                    batch.create_foreign_key(name, referred, [column], ["id"], ondelete=ondelete)
