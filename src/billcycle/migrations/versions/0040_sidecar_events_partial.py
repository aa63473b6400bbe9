"""Collections events: the invoice index holds only events that name an invoice

``ix_collection_events_invoice_type_day`` answers "was the invoice attempted on or after
day D?" and an invoice's latest attempt, always for given invoices. A payment's outcome
event (PaymentSucceeded / PaymentFailed, one a payment of a payment run) names no
invoice, and each still wrote an entry (invoice NULL) into the index: one index write a
payment for entries nothing reads. The index is now partial (``invoice_id IS NOT
NULL``); the queries that use it say so.

Revision ID: 0040_sidecar_events_partial
Revises: 0039_paypg_hot_updates
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040_sidecar_events_partial"
down_revision: str | None = "0039_paypg_hot_updates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_collection_events_invoice_type_day"
COLUMNS = ["invoice_id", "tenant_id", "event_type", "business_date"]


def upgrade() -> None:
    op.drop_index(INDEX, table_name="collection_events")
    op.create_index(
        INDEX,
        "collection_events",
        COLUMNS,
        sqlite_where=sa.text("invoice_id IS NOT NULL"),
        postgresql_where=sa.text("invoice_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="collection_events")
    op.create_index(INDEX, "collection_events", COLUMNS)
