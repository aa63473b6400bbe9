"""Open balances per (tenant, currency, due date): the AR aging report's summary.

An invoice's balance is derived (its amount less the ledger), so the aging report used to
sum every posted invoice of the tenant: 3.2 s on SQLite and ~1 s on PostgreSQL at a
million open invoices. This table keeps, per (tenant, currency, due date), the sum of the
positive balances of the posted invoices due that day and how many they are; the report
sums a few thousand rows (docs/benchmarks.md, "Receivables at a million open invoices").

It is kept in step in the transaction of every change to a posted invoice's balance, by
the few functions here, called from the write paths themselves:

- an invoice becomes Posted: :func:`add_posted` (rows the posting ``UPDATE ... RETURNING``
  gave back) or :func:`add_posted_ids` (invoices written as Posted by id);
- ledger entries on invoices were written (payments applied or taken back, credits,
  refunds, write-offs): :func:`entries_applied`, with (invoice id, amount) of the entries.

Posted invoices are never deleted, cancelled or re-dated (``accounts.service.delete_account``
and ``billruns.service`` refuse; only drafts are cancelled), so nothing else moves it.
Each call is set-based: one read of the touched invoices per chunk and ONE upsert of the
changed (currency, due date) rows, sorted (so two transactions lock summary rows in the
same order). :func:`differences` recomputes the summary from the invoices and the ledger
(``billcycle db open-balances`` checks and repairs it), and the property test in
``tests/ledger/test_open_balances.py`` proves that random sequences of operations leave
it equal to that recomputation on both databases.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Date,
    ForeignKey,
    Integer,
    String,
    Table,
    any_,
    bindparam,
    delete,
    func,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from billcycle.db.base import Base
from billcycle.db.types import BigId
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger.models import LedgerEntry

# Well under both databases' bound-parameter limits per statement.
_CHUNK = 5_000

Key = tuple[str, date]  # (currency, due date)


class OpenBalance(Base):
    """The positive balances of a tenant's posted invoices in one currency due one day."""

    __tablename__ = "open_balances"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    due_date: Mapped[date] = mapped_column(Date, primary_key=True)
    # Sum of the balances > 0 of the posted invoices of this key, in minor units.
    balance_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # How many of them have a balance > 0.
    invoices: Mapped[int] = mapped_column(Integer, nullable=False)


_table = cast(Table, OpenBalance.__table__)
_invoices = cast(Table, Invoice.__table__)
_entries = cast(Table, LedgerEntry.__table__)


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _upsert(session: Session, tenant_id: int, changes: dict[Key, list[int]]) -> None:
    """Add (balance, invoices) to each key's row, creating it: ONE statement, keys sorted."""
    rows = [
        {
            "tenant_id": tenant_id,
            "currency": currency,
            "due_date": due,
            "balance_minor": change[0],
            "invoices": change[1],
        }
        for (currency, due), change in sorted(changes.items())
        if change[0] or change[1]
    ]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(_table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "currency", "due_date"],
        set_={
            "balance_minor": _table.c.balance_minor + stmt.excluded.balance_minor,
            "invoices": _table.c.invoices + stmt.excluded.invoices,
        },
    )
    session.execute(stmt, rows)


def posted_columns() -> tuple[Any, ...]:
    """What a posting ``UPDATE ... RETURNING`` gives back for :func:`add_posted`: the
    currency, the due date as stored (SQLite's text; parsing it into a ``date`` per row
    cost more than the rest of the bookkeeping) and the amount."""
    return (
        _invoices.c.currency,
        type_coerce(_invoices.c.due_date, String),
        _invoices.c.amount_minor,
    )


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def add_posted(session: Session, tenant_id: int, rows: Iterable[Sequence[Any]]) -> None:
    """Invoices that just became Posted: ``rows`` of (currency, due date, amount) as the
    posting ``UPDATE ... RETURNING`` gave them back (:func:`posted_columns`). A draft has
    no ledger entries (only posted invoices take them), so what it owes once posted is
    its amount."""
    grouped: dict[tuple[str, Any], list[int]] = defaultdict(lambda: [0, 0])
    for currency, due, amount in rows:
        if amount > 0:
            change = grouped[(currency, due)]
            change[0] += amount
            change[1] += 1
    _upsert(session, tenant_id, {(c, _day(d)): v for (c, d), v in grouped.items()})


def _balances(session: Session, tenant_id: int, ids: Sequence[int]) -> list[Any]:
    """(id, currency, due date, balance) of those of ``ids`` that are posted: one statement,
    the ledger summed per invoice by a correlated sum on its invoice index; PostgreSQL gets
    the ids as ONE array parameter (a thousand-id ``IN`` list cost more to bind than the
    query took)."""
    inv, led = _invoices.c, _entries.c
    applied = (
        select(func.coalesce(func.sum(led.amount_minor), 0))
        .where(led.invoice_id == inv.id, led.tenant_id == tenant_id)
        .correlate(_invoices)
        .scalar_subquery()
    )
    if session.get_bind().dialect.name == "postgresql":
        chosen = inv.id == any_(bindparam("ids", list(ids), type_=ARRAY(BigInteger)))
    else:
        chosen = inv.id.in_(ids)
    # Core columns and the connection: no ORM row processing for what is a plain read.
    return list(
        session.connection().execute(
            select(inv.id, inv.currency, inv.due_date, inv.amount_minor - applied).where(
                inv.tenant_id == tenant_id, chosen, inv.status == InvoiceStatus.POSTED.value
            )
        )
    )


def add_posted_ids(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> None:
    """Invoices written as Posted by id (not through a posting ``UPDATE``): their balances
    as the database has them now."""
    changes: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for chunk in _chunks(sorted(set(invoice_ids))):
        for _id, currency, due, balance in _balances(session, tenant_id, chunk):
            if balance > 0:
                change = changes[(currency, due)]
                change[0] += int(balance)
                change[1] += 1
    _upsert(session, tenant_id, changes)


def entries_applied(
    session: Session, tenant_id: int, applied: Iterable[tuple[int | None, int]]
) -> None:
    """Ledger entries were just written: ``applied`` holds (invoice id, amount) of each
    (entries on no invoice are skipped; a positive amount reduces the invoice's balance).

    Reads the touched posted invoices' balances as they are now (after the entries), so
    before them each owed its balance plus what was applied; the summary moves by the
    difference of the positive parts, and the count by invoices crossing zero."""
    per_invoice: dict[int, int] = defaultdict(int)
    for invoice_id, amount in applied:
        if invoice_id is not None:
            per_invoice[invoice_id] += int(amount)
    if not per_invoice:
        return
    changes: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for chunk in _chunks(sorted(per_invoice)):
        for invoice_id, currency, due, after in _balances(session, tenant_id, chunk):
            after = int(after)
            before = after + per_invoice[invoice_id]
            change = changes[(currency, due)]
            change[0] += max(after, 0) - max(before, 0)
            change[1] += (after > 0) - (before > 0)
    _upsert(session, tenant_id, changes)


# -- reading, checking and repairing -------------------------------------------------------


def rows(session: Session, tenant_id: int) -> list[tuple[str, date, int, int]]:
    """(currency, due date, balance, invoices) of the tenant's keys that owe something."""
    return [
        (str(c), d, int(b), int(n))
        for c, d, b, n in session.execute(
            select(_table.c.currency, _table.c.due_date, _table.c.balance_minor, _table.c.invoices)
            .where(_table.c.tenant_id == tenant_id, _table.c.invoices != 0)
            .order_by(_table.c.currency, _table.c.due_date)
        )
    ]


def recomputed_query(tenant_id: int | None = None) -> Any:
    """(tenant, currency, due date, balance, invoices) summed afresh from the posted
    invoices and the ledger: what the summary must hold. One grouped pass over each."""
    applied = select(
        LedgerEntry.invoice_id.label("invoice_id"),
        func.sum(LedgerEntry.amount_minor).label("applied"),
    ).where(LedgerEntry.invoice_id.is_not(None))
    invoices = select(
        Invoice.tenant_id,
        Invoice.id,
        Invoice.currency,
        Invoice.due_date,
        Invoice.amount_minor,
    ).where(Invoice.status == InvoiceStatus.POSTED)
    if tenant_id is not None:
        applied = applied.where(LedgerEntry.tenant_id == tenant_id)
        invoices = invoices.where(Invoice.tenant_id == tenant_id)
    sums = applied.group_by(LedgerEntry.invoice_id).subquery()
    inv = invoices.subquery()
    owed = (inv.c.amount_minor - func.coalesce(sums.c.applied, 0)).label("owed")
    per_invoice = (
        select(inv.c.tenant_id, inv.c.currency, inv.c.due_date, owed)
        .outerjoin(sums, sums.c.invoice_id == inv.c.id)
        .subquery()
    )
    return (
        select(
            per_invoice.c.tenant_id,
            per_invoice.c.currency,
            per_invoice.c.due_date,
            func.sum(per_invoice.c.owed).label("balance_minor"),
            func.count().label("invoices"),
        )
        .where(per_invoice.c.owed > 0)
        .group_by(per_invoice.c.tenant_id, per_invoice.c.currency, per_invoice.c.due_date)
    )


@dataclass(frozen=True, slots=True)
class Difference:
    tenant_id: int
    currency: str
    due_date: date
    stored: tuple[int, int]  # (balance, invoices) in the summary
    actual: tuple[int, int]  # recomputed from the invoices and the ledger


def differences(session: Session, tenant_id: int | None = None) -> list[Difference]:
    """Every key where the summary disagrees with the invoices and the ledger."""
    actual = {
        (int(t), str(c), d): (int(b), int(n))
        for t, c, d, b, n in session.execute(recomputed_query(tenant_id))
    }
    stored_q = select(
        _table.c.tenant_id,
        _table.c.currency,
        _table.c.due_date,
        _table.c.balance_minor,
        _table.c.invoices,
    )
    if tenant_id is not None:
        stored_q = stored_q.where(_table.c.tenant_id == tenant_id)
    stored = {
        (int(t), str(c), d): (int(b), int(n))
        for t, c, d, b, n in session.execute(stored_q)
        if b or n
    }
    return [
        Difference(key[0], key[1], key[2], stored.get(key, (0, 0)), actual.get(key, (0, 0)))
        for key in sorted(set(actual) | set(stored))
        if stored.get(key, (0, 0)) != actual.get(key, (0, 0))
    ]


def rebuild(session: Session, tenant_id: int | None = None) -> None:
    """Replace the summary (of one tenant, or all) by its recomputation, in one
    ``INSERT ... SELECT``. The caller holds the write lock (SQLite) or runs it where no
    balance moves meanwhile (the migration, ``billcycle db open-balances --repair``:
    PostgreSQL takes a ``SHARE ROW EXCLUSIVE`` lock on the table first)."""
    if session.get_bind().dialect.name == "postgresql":
        # Writers wait for this transaction; the recomputation below sees every
        # transaction that moved the summary before it (they committed to release the
        # lock), and the deltas of those that move it later apply on top of it.
        session.connection().exec_driver_sql("LOCK TABLE open_balances IN SHARE ROW EXCLUSIVE MODE")
    stmt = delete(_table)
    if tenant_id is not None:
        stmt = stmt.where(_table.c.tenant_id == tenant_id)
    session.execute(stmt)
    session.execute(
        _table.insert().from_select(
            ["tenant_id", "currency", "due_date", "balance_minor", "invoices"],
            recomputed_query(tenant_id),
        )
    )
