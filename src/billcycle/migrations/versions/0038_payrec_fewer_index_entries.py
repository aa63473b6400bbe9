"""Fewer index entries a payment run writes per record and per sale

A payment run writes a ``payment_run_data`` row per receivable (at the run's start),
names its payment on it (the begin's claim) and a test-gateway book row per sale. Two
indexes of ``payment_run_data`` had no reader: ``ix_payment_run_data_payment`` (no
statement looks a record up by its payment; a record names its payment, read forward)
and ``ix_payment_run_data_invoice`` (no statement looks records up by invoice); each
cost an entry at the run's start and the first another two at the claim. SQLite's
planner also took ``ix_payment_run_data_payment`` to drive the records' results from
a scan of every payment once the table's statistics made it look cheap.

``ix_test_gateway_charges_parent_id`` held an entry for every sale, whose parent is
NULL; it is read only by a parent's refunds (``parent_id = ?``) and the foreign key's
cascade, both of which name a parent: it now holds only rows that have one.

Revision ID: 0038_payrec_fewer_index_entries
Revises: 0037_sandbox_attempt_log_index
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038_payrec_fewer_index_entries"
down_revision: str | None = "0037_sandbox_attempt_log_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAS_PARENT = "parent_id IS NOT NULL"


def upgrade() -> None:
    op.drop_index("ix_payment_run_data_payment", table_name="payment_run_data")
    op.drop_index("ix_payment_run_data_invoice", table_name="payment_run_data")
    op.drop_index("ix_test_gateway_charges_parent_id", table_name="test_gateway_charges")
    op.create_index(
        "ix_test_gateway_charges_parent_id",
        "test_gateway_charges",
        ["parent_id"],
        unique=False,
        sqlite_where=sa.text(HAS_PARENT),
        postgresql_where=sa.text(HAS_PARENT),
    )


def downgrade() -> None:
    op.drop_index("ix_test_gateway_charges_parent_id", table_name="test_gateway_charges")
    op.create_index(
        "ix_test_gateway_charges_parent_id", "test_gateway_charges", ["parent_id"], unique=False
    )
    op.create_index("ix_payment_run_data_invoice", "payment_run_data", ["invoice_id"], unique=False)
    op.create_index("ix_payment_run_data_payment", "payment_run_data", ["payment_id"], unique=False)
