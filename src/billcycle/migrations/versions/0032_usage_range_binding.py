"""Usage records billed by range, not bound one by one

A usage record that was not late when created is billed by the live usage item of its
charge whose service period holds its date (``usage.repository.billing_items``): bill
runs no longer write each record (the per-record UPDATE bounded a 10M-record run), and
cancelling or deleting a run frees them with no write. Only late records keep
``invoice_item_id`` (they are billed by an item whose period does not hold their date).

Backfill: the on-time records' old bindings are cleared, so the column means one thing.
Every such binding named the live item that now covers the record by range (bill runs
bound them by that same rule, and cancelling unbound them), so what is billed does not
change. The downgrade writes the bindings back from the ranges.

Revision ID: 0032
Revises: 0031
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE usage_records SET invoice_item_id = NULL "
        "WHERE invoice_item_id IS NOT NULL AND NOT late"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE usage_records SET invoice_item_id = i.id "
        "FROM invoice_items AS i "
        "JOIN subscription_charges AS seg ON seg.id = i.subscription_charge_id "
        "JOIN subscription_charges AS sib ON sib.tenant_id = seg.tenant_id "
        "AND sib.charge_number = seg.charge_number "
        "WHERE i.charge_type = 'Usage' AND NOT i.voided AND NOT usage_records.late "
        "AND usage_records.invoice_item_id IS NULL "
        "AND usage_records.subscription_charge_id = sib.id "
        "AND usage_records.usage_date >= i.service_start "
        "AND usage_records.usage_date < i.service_end"
    )
