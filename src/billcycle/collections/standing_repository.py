"""The standing pass's own SQL: the collections rows of the accounts that fall overdue
for the first time, created together (``standing.evaluate_standing``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from billcycle.collections.repository import AccountRow, plain_account_rows
from billcycle.collections.statuses import AccountStanding
from billcycle.db.bulk import is_postgres
from billcycle.db.types import UtcDateTime

# The rows from ONE JSON parameter (an array of account ids), in its order: a multi-row
# VALUES built by SQLAlchemy processed eight parameters per account (a month's first
# overdue day creates a row for every account of a new tenant: ~1 ms a row at 2k).
_INSERT = """
INSERT INTO collection_accounts (tenant_id, account_id, dunning_exempt, in_collection,
    standing, suspended_subscriptions, created_at, updated_at)
SELECT :t, {account}, :no, :no, :good, {empty}, :now, :now
FROM {rows}
WHERE true
ORDER BY {n}
ON CONFLICT (tenant_id, account_id) DO NOTHING
"""
_INSERT_SQLITE = text(
    _INSERT.format(account="j.value", rows="json_each(:ids) j", n="j.key", empty="'[]'")
).bindparams(bindparam("now", type_=UtcDateTime))
_INSERT_POSTGRES = text(
    _INSERT.format(
        account="CAST(j.e AS bigint)",
        rows="jsonb_array_elements_text(CAST(:ids AS jsonb)) WITH ORDINALITY AS j(e, n)",
        n="j.n",
        empty="CAST('[]' AS json)",
    )
).bindparams(bindparam("now", type_=UtcDateTime))


def ensure_account_rows(
    session: Session, tenant_id: int, account_ids: Sequence[int], now: datetime
) -> dict[int, AccountRow]:
    """The rows of ``account_ids``, inserted (Good, not exempt) where missing: one
    INSERT ... SELECT ... ON CONFLICT DO NOTHING per thousand accounts, in the given
    order (so ids are assigned as one insert per account assigned them), and one SELECT,
    instead of an INSERT and a SELECT per account (plain rows, ``repository.AccountRow``).
    A concurrent insert of the same row is not an error.

    Tenant: every row is written and read under ``tenant_id``.
    """
    found: dict[int, AccountRow] = {}
    statement = _INSERT_POSTGRES if is_postgres(session) else _INSERT_SQLITE
    for start in range(0, len(account_ids), 1000):
        part = [int(a) for a in account_ids[start : start + 1000]]
        session.execute(
            statement,
            {
                "t": tenant_id,
                "ids": json.dumps(part, separators=(",", ":")),
                "no": False,
                "good": AccountStanding.GOOD.value,
                "now": now,
            },
        )
        found.update(plain_account_rows(session, tenant_id, part))
    return found
