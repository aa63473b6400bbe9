"""BulkPayment chunks recorded set-based (session 3): the chunk's shape read by one
statement (``payment_sql_repository``), checked against its invoices under their locks,
and written by ``payments.bulk.record_payments``; a chunk of another shape is left to the
record-by-record path, which words every failure."""

from __future__ import annotations

from typing import NamedTuple

from billcycle.bulkjobs import payment_sql_repository
from billcycle.context import ServiceContext
from billcycle.db.bulk import is_postgres
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger import open_balances_repository as open_balances
from billcycle.payments import bulk as payments
from billcycle.payments.activity_statuses import RECORDED_KINDS


class Shape(NamedTuple):
    """A chunk SQL can record: its awaiting records in seq order, each as the payment it
    records (its allocations as (invoice id, minor units): their invoice dates are read
    under the invoices' locks), and the minor units allocated to each invoice."""

    record_ids: list[int]
    payments: list[tuple[int, int, str, str, str, str | None]]  # PlannedPayment's first six
    allocations: list[list[tuple[int, int]]]
    allocated: dict[int, tuple[int, int]]  # invoice id -> (customer, minor units)


_RECORDED = frozenset(kind.value for kind in RECORDED_KINDS)


def shape(ctx: ServiceContext, job_id: int, first_seq: int, last_seq: int) -> Shape | None:
    """The chunk's awaiting records if every one of them is of the shape SQL reads (a
    recorded payment of a customer of the tenant, named allocations or none, amounts SQL
    reads), else None. Reads only: one statement, each record's JSON read once."""
    rows = payment_sql_repository.shape_rows(
        ctx.session, ctx.tenant_id, job_id, first_seq, last_seq
    )
    record_ids: list[int] = []
    payments_: list[tuple[int, int, str, str, str, str | None]] = []
    allocations: list[list[tuple[int, int]]] = []
    allocated: dict[int, tuple[int, int]] = {}
    pieces: list[tuple[int, int]] = []
    last = None
    recorded = _RECORDED
    for rid, cid, currency, amount, kind, source, reference, auto, iid, minor in rows:
        if rid != last:
            if cid is None or kind not in recorded or auto or amount is None or amount <= 0:
                return None
            pieces = []
            record_ids.append(rid)
            payments_.append((cid, amount, currency, kind, source, reference))
            allocations.append(pieces)
            last = rid
        if iid is None:
            continue
        if minor is None or minor <= 0:
            return None  # validated in Python from a form SQL does not read: Python's turn
        pieces.append((iid, minor))
        owner, total = allocated.get(iid, (cid, 0))
        if owner != cid:
            return None
        allocated[iid] = (cid, total + minor)
    return Shape(record_ids, payments_, allocations, allocated)


def record(ctx: ServiceContext, chunk: Shape) -> list[int] | None:
    """Record ``chunk``'s payments (``payments.bulk.record_payments``: COPY on
    PostgreSQL, executemany on SQLite); their ids, in record order. None (nothing
    written) when an allocation no longer fits its invoice (the Python rules then say
    which record fails and why). Takes the invoices' locks (PostgreSQL) before it reads
    their balances."""
    if not chunk.record_ids:
        return []
    invoice_ids = sorted(chunk.allocated)
    payments.lock_invoices(ctx, invoice_ids)
    facts = payment_sql_repository.invoice_facts(ctx.session, ctx.tenant_id, invoice_ids)
    moves: list[tuple[str, object, int, int, int]] = []
    for invoice_id, (customer, minor) in chunk.allocated.items():
        found = facts.get(invoice_id)
        if found is None:
            return None
        owner, status, balance, _, currency, due = found
        if owner != customer or status != InvoiceStatus.POSTED or minor > balance:
            return None
        moves.append((currency, due, owner, balance, balance - minor))
    planned = payments.PlannedPayment
    return payments.record_payments(
        ctx,
        [
            planned(*payment, tuple([(i, m, facts[i][3]) for i, m in pieces]))
            for payment, pieces in zip(chunk.payments, chunk.allocations, strict=True)
        ],
        moved=moves,
    )


def in_sql(ctx: ServiceContext) -> bool:
    """Whether this database records chunks by SQL alone (:func:`record_in_sql`): SQLite.
    PostgreSQL keeps :func:`shape` and :func:`record` (COPY)."""
    return not is_postgres(ctx.session)


def charges_any(ctx: ServiceContext, job_id: int, first_seq: int, last_seq: int) -> bool:
    """SQLite: whether the chunk has a record to charge (it then goes the Python way
    before taking any lock, as :func:`shape` sends it)."""
    return payment_sql_repository.any_charged(ctx.session, job_id, first_seq, last_seq)


def record_in_sql(
    ctx: ServiceContext, job_id: int, first_seq: int, last_seq: int
) -> tuple[list[int], list[int]] | None:
    """SQLite: :func:`shape` and :func:`record` with no row in Python: the chunk's
    awaiting records staged in the connection's TEMP tables, checked there (the same
    tests as :func:`shape` and :func:`record`), and the payments, ledger entries,
    activities and AR summaries written from them by ``INSERT ... SELECT``. The records'
    ids and their payments' ids, in record order; None (nothing written) when the chunk
    is not of that shape or an allocation no longer fits (the Python rules then judge
    it). The caller holds the write lock."""
    session, tenant_id = ctx.session, ctx.tenant_id
    record_ids = payment_sql_repository.stage_chunk(session, tenant_id, job_id, first_seq, last_seq)
    if not record_ids:
        return None if record_ids is None else ([], [])
    block = payments.reserve_block(ctx, len(record_ids))
    payment_sql_repository.insert_staged(
        session,
        tenant_id,
        first_id=block.first_id,
        first_number=block.first_number,
        prefix=block.prefix,
        digits=block.digits,
        today=block.today,
        now=block.now,
    )
    open_balances.balances_moved_in_sql(session, tenant_id, payment_sql_repository.STAGED_MOVES)
    return record_ids, list(range(block.first_id, block.first_id + len(record_ids)))
