"""Leave room in pages that bill runs update in place (PostgreSQL only)

Bill runs rewrite every billed charge segment's watermark and posting rewrites every
invoice's status; neither column is indexed, so with free space on the page PostgreSQL
makes these heap-only (HOT) updates that touch no index. At the default fillfactor of 100
every such update also rewrote all of the row's index entries.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTORS = {"subscription_charges": 70, "invoices": 80}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, fillfactor in FILLFACTORS.items():
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in FILLFACTORS:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
