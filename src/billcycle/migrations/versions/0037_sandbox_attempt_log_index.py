"""Collections events by invoice carry the event type and business date in the index

The day's overdue read asks, for each past-due invoice of an owing account, whether it
was attempted on or after its due date + the widest attempt day (``EXISTS`` over the
invoice's ``Attempt`` events), and the day's attempts read each invoice's latest
attempt. With ``(invoice_id, tenant_id)`` only, each probe read every event row of the
invoice (a declining card's invoice gathers a dozen); with the type and date in the
index it is answered from the index. Replaces ``ix_collection_events_invoice`` (its
prefix serves every read the old one served); no data moves.

Revision ID: 0037_sandbox_attempt_log_index
Revises: 0036_payrun_pending_invoice
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0037_sandbox_attempt_log_index"
down_revision: str | None = "0036_payrun_pending_invoice"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_collection_events_invoice_type_day",
        "collection_events",
        ["invoice_id", "tenant_id", "event_type", "business_date"],
        unique=False,
    )
    op.drop_index("ix_collection_events_invoice", table_name="collection_events")


def downgrade() -> None:
    op.create_index(
        "ix_collection_events_invoice",
        "collection_events",
        ["invoice_id", "tenant_id"],
        unique=False,
    )
    op.drop_index("ix_collection_events_invoice_type_day", table_name="collection_events")
