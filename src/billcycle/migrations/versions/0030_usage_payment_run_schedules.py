"""Payment-run schedules; usage records keep room for their binding

``payment_run_schedules``: a tenant's recurring payment-run schedule (daily at an hour
of its time zone), fired by the scheduler (production) or by test-clock advances
(sandbox).

``usage_records.late`` marks late usage (dated in a billed period when created), with a
partial index of those few rows, which the bill run's late sum probes.

``usage_records`` gets ``fillfactor = 50`` on PostgreSQL: a bill run binds every record
it rates (``invoice_item_id``, not indexed), and with half of each page free that UPDATE
is a HOT update (no new index entries), six times cheaper than with full pages
(docs/benchmarks.md, "Usage: late usage, import recovery, rating at scale").

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billcycle.db.types


revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_run_schedules",
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("run_hour", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", billcycle.db.types.UtcDateTime(), nullable=False),
        sa.Column("last_run_id", sa.BigInteger(), nullable=True),
        sa.Column("last_run_at", billcycle.db.types.UtcDateTime(), nullable=True),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", billcycle.db.types.UtcDateTime(), nullable=False),
        sa.Column("updated_at", billcycle.db.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_payment_run_schedules_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_run_schedules")),
    )
    with op.batch_alter_table("payment_run_schedules", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payment_run_schedules_due", ["active", "next_run_at"], unique=False
        )
        batch_op.create_index("uq_payment_run_schedules_tenant", ["tenant_id"], unique=True)
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(
            "ix_usage_records_late",
            ["subscription_charge_id"],
            unique=False,
            sqlite_where=sa.text("late"),
            postgresql_where=sa.text("late"),
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE usage_records SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE usage_records RESET (fillfactor)")
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_records_late")
        batch_op.drop_column("late")
    with op.batch_alter_table("payment_run_schedules", schema=None) as batch_op:
        batch_op.drop_index("uq_payment_run_schedules_tenant")
        batch_op.drop_index("ix_payment_run_schedules_due")
    op.drop_table("payment_run_schedules")
