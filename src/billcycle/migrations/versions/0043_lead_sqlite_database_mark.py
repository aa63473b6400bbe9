"""SQLite: a random mark in the database file's header (``application_id``)

On a SQLite file the test gateway keeps its charge book in a file of its own beside
billcycle's (``billcycle.test-gateway.db``). A book kept while billcycle's file was
deleted and made again would answer the new database's payment keys (numbers restart at
P-00000001) with the old database's charges. The book records the mark of the database
it serves and is moved aside when it meets another (``gateways.test_gateway``); the mark
is set here, once, so reading it never writes. PostgreSQL: nothing (the book is a table
of the database itself).

Revision ID: 0043_lead_sqlite_database_mark
Revises: 0042_paywrites_partial_indexes
"""

import secrets
from collections.abc import Sequence

from alembic import op

revision: str = "0043_lead_sqlite_database_mark"
down_revision: str | None = "0042_paywrites_partial_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if not int(bind.exec_driver_sql("PRAGMA application_id").scalar() or 0):
        mark = secrets.randbelow(2**31 - 1) + 1
        bind.exec_driver_sql(f"PRAGMA application_id = {mark}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql("PRAGMA application_id = 0")
