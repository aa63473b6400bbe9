"""Generated account numbers (A00000001, ...), reserved a block at a time per process on
PostgreSQL.

On PostgreSQL an account number is reserved in a short transaction of its own (the
tenant's number row would otherwise be locked until the creating transaction commits,
and concurrent creations would run one after another): one more round trip, pooled
connection and commit (a WAL flush) for every POST. A server process instead reserves
``BLOCK`` numbers at once and hands them out one by one, so that costs one POST in
``BLOCK``. The price: numbers of two server processes interleave (A00000001-32 in one,
A00000033-64 in the other), and a process that stops leaves the rest of its block
unused, a gap (a creation that fails leaves one already; Zuora promises neither order
nor density). In one process, numbers still follow creation order.

SQLite has a single writer, which the creating transaction already holds: there the
number is reserved in that transaction, one at a time, without gaps.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque

from sqlalchemy import Engine

from billcycle.context import ServiceContext
from billcycle.tenancy.numbers import number_block

SEQUENCE = "account"
# Numbers a PostgreSQL server process reserves at once (1: one per account, in order
# across processes, as before blocks).
BLOCK = max(1, int(os.environ.get("BILLCYCLE_ACCOUNT_NUMBER_BLOCK", "32")))

# Engine -> tenant -> the numbers this process reserved and has not handed out yet.
# Keyed by the engine (not its URL): a database dropped and created again comes with a
# new engine, whose tenants start afresh.
_reserved: weakref.WeakKeyDictionary[Engine, dict[int, deque[str]]] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def next_number(ctx: ServiceContext) -> str:
    """The next generated account number for the context's tenant.

    A number handed out is never handed out again by this process; one that another
    path took meanwhile (an import, the bulk loader, a reset sequence) is refused by the
    account's unique index, and the caller asks for the next (as it does today)."""
    bind = ctx.session.get_bind()
    if BLOCK == 1 or not isinstance(bind, Engine) or bind.dialect.name != "postgresql":
        (number,) = number_block(ctx.session, ctx.tenant_id, SEQUENCE, 1, own_transaction=True)
        return number
    with _guard:
        waiting = _reserved.setdefault(bind, {}).get(ctx.tenant_id)
        if waiting:
            return waiting.popleft()
    # Reserved outside the guard (a round trip): two threads that find no number both
    # reserve a block, and both blocks are used.
    block = number_block(ctx.session, ctx.tenant_id, SEQUENCE, BLOCK, own_transaction=True)
    with _guard:
        waiting = _reserved.setdefault(bind, {}).setdefault(ctx.tenant_id, deque())
        waiting.extend(block[1:])
    return block[0]


def reserved_number(engine: Engine, tenant_id: int) -> str | None:
    """The next number of a block this process already reserved for the tenant, without
    a round trip; None when none is left (:func:`next_number` reserves the next block)
    or numbers are not reserved in blocks (SQLite, ``BLOCK`` 1)."""
    if BLOCK == 1 or engine.dialect.name != "postgresql":
        return None
    with _guard:
        waiting = _reserved.get(engine, {}).get(tenant_id)
        if waiting:
            return waiting.popleft()
    return None
