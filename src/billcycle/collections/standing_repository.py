"""The standing pass's own SQL: the collections rows of the accounts that fall overdue
for the first time, created together (``standing.evaluate_standing``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from billcycle.collections.models import CollectionAccount
from billcycle.collections.repository import AccountRow, plain_account_rows
from billcycle.collections.statuses import AccountStanding


def ensure_account_rows(
    session: Session, tenant_id: int, account_ids: Sequence[int], now: datetime
) -> dict[int, AccountRow]:
    """The rows of ``account_ids``, inserted (Good, not exempt) where missing: one
    multi-row INSERT ... ON CONFLICT DO NOTHING in the given order (so ids are assigned
    as one insert per account assigned them) and one SELECT, instead of an INSERT and a
    SELECT per account (plain rows, ``repository.AccountRow``). A concurrent insert of
    the same row is not an error.

    Tenant: every row is written and read under ``tenant_id``.
    """
    found: dict[int, AccountRow] = {}
    postgres = session.connection().dialect.name == "postgresql"
    builder = postgresql.insert if postgres else sqlite.insert
    for start in range(0, len(account_ids), 1000):
        part = list(account_ids[start : start + 1000])
        session.execute(
            builder(CollectionAccount)
            .values(
                [
                    {
                        "tenant_id": tenant_id,
                        "account_id": account_id,
                        "dunning_exempt": False,
                        "in_collection": False,
                        "standing": AccountStanding.GOOD.value,
                        "suspended_subscriptions": [],
                        "created_at": now,
                        "updated_at": now,
                    }
                    for account_id in part
                ]
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "account_id"])
        )
        found.update(plain_account_rows(session, tenant_id, part))
    return found
