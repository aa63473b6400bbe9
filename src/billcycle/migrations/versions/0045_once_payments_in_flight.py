"""A payment run's slices in flight: its payments written once, with their outcomes

A payment run's slice inserted each payment Processing before its gateway call and
updated it to its outcome after (PostgreSQL: never a HOT update, ~40-45 us of the
server's CPU a payment; SQLite: ~4.5 us a payment on the run's one writer, plus the
partial indexes' entries made and removed). Now the slice's begin writes ONE row here
with its charges (the payments' columns as decided: ids, numbers and attempt keys,
methods, gateways, invoices, amounts) beside the records' claims, and the finish
inserts the payments with their outcomes already known and deletes the row. A crash in
between leaves the row: the chunk's next worker (or the reconciler's sweep) inserts the
payments Processing from it, which is what a crash left before, and the reconciler asks
the gateway by the same attempt keys (``payments.pending_repository``).

Revision ID: 0045_once_payments_in_flight
Revises: 0044_pgfk_fewer_fk_checks
"""

from collections.abc import Sequence

import sqlalchemy as sa

import billcycle.db.types
from alembic import op

revision: str = "0045_once_payments_in_flight"
down_revision: str | None = "0044_pgfk_fewer_fk_checks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "payments_in_flight",
        sa.Column("id", bigid, autoincrement=True, nullable=False),
        sa.Column("tenant_id", bigid, nullable=False),
        sa.Column("payment_run_id", sa.BigInteger(), nullable=False),
        sa.Column("first_account", sa.BigInteger(), nullable=False),
        sa.Column("last_account", sa.BigInteger(), nullable=False),
        sa.Column("last_payment_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", billcycle.db.types.UtcDateTime(), nullable=False),
        sa.Column("invoices", sa.Text(), nullable=False),
        sa.Column("charges", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_payments_in_flight_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_in_flight")),
    )


def downgrade() -> None:
    op.drop_table("payments_in_flight")
