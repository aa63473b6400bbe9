"""Room on the pages of the rows a payment run updates in place (PostgreSQL)

PostgreSQL writes an updated row as a new version. When the version fits on the row's
own page and no indexed column changed, the update is "HOT": no index is written. With
the default fill factor (100) the pages of ``payment_run_data`` and ``payment_methods``
are full from their insert, so every update of a row went to another page and wrote a
new entry in each of the table's indexes: a record's result (four indexes; none of its
columns is indexed) and a method's counters after a charge (three; none indexed), one
each a payment of a run. Pages filled to half at insert keep room for the next version
of each row on its page (the version before is pruned once no transaction sees it),
so those updates touch no index. SQLite has no fill factor.

The claim of a record sets its ``payment_id``; ``ix_payment_run_data_payment``, which
indexed it, is gone (``0038_payrec_fewer_index_entries``), so the claim is in place too.

Only pages written from now on are filled to the new factor; existing rows keep their
pages until the table is rewritten (``VACUUM FULL`` / ``CLUSTER``) or they move.

Revision ID: 0039_paypg_hot_updates
Revises: 0038_payrec_fewer_index_entries
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0039_paypg_hot_updates"
down_revision: str | None = "0038_payrec_fewer_index_entries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# payment_run_data: a record is written three times (the run's start, the claim, the
# result), the last version the widest; payment_methods: twice a run (insert, counters).
TABLES = {"payment_run_data": 30, "payment_methods": 50}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, fillfactor in TABLES.items():
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
