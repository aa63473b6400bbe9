"""Multi-org scoping of every read: one mechanism for every object that belongs to an
account.

A call limited to some organizations (``Zuora-Org-Ids``, or a client granted some) marks
its unit of work's session (:meth:`billcycle.runtime.Runtime.context`
puts them in ``session.info``). Every ORM SELECT on that session then carries,
for the account table, ``organization_id IN (those)`` and, for every mapped table with an
``account_id`` column (subscriptions, invoices, payments, refunds, payment methods,
usage, ledger entries, bill-run failures, ...), ``account_id IN (the accounts of those
organizations)``. Another organization's objects are then "not found" exactly as another
tenant's are, through every route and every query written later, with no per-route check
to forget. Sessions without the mark (workers, the CLI, unlimited callers) are untouched.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from billcycle.access import repository
from billcycle.context import ORG_SCOPE_KEY
from billcycle.db.base import Base

_owned: list[Any] | None = None


def _account_owned() -> list[Any]:
    """Mapped classes with an ``account_id`` column (read once, when the first limited
    call runs: every model is imported by then)."""
    global _owned
    if _owned is None:
        _owned = sorted(
            (
                mapper.class_
                for mapper in Base.registry.mappers
                if "account_id" in mapper.columns and mapper.class_.__name__ != "Account"
            ),
            key=lambda cls: cls.__name__,
        )
    return _owned


@event.listens_for(Session, "do_orm_execute")
def _limit_reads(state: ORMExecuteState) -> None:
    org_ids = state.session.info.get(ORG_SCOPE_KEY)
    if org_ids is None or not state.is_select:
        return
    state.statement = state.statement.options(
        *repository.org_scope_options(org_ids, _account_owned())
    )
