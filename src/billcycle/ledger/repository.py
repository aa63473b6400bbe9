"""All SQL of the accounts-receivable ledger.

Balances are derived, never stored: an invoice's balance is its amount less the sum of
the entries applied to it. Every read here is one set-based statement per chunk of
invoice ids, so a bill run or a bulk job asking for thousands of balances costs a few
round trips, not one per invoice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Select,
    Table,
    case,
    func,
    insert,
    literal,
    null,
    select,
)
from sqlalchemy.orm import Session

from billcycle.db.types import UtcDateTime
from billcycle.invoicing.models import Invoice
from billcycle.ledger import open_balances_repository as open_balances
from billcycle.ledger.models import LedgerEntry

_entries = cast(Table, LedgerEntry.__table__)

# Well under PostgreSQL's 65,535 and SQLite's 32,766 bound parameters per statement.
ID_CHUNK = 5_000


def chunks(ids: Sequence[int], size: int = ID_CHUNK) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def insert_entry(session: Session, entry: LedgerEntry) -> LedgerEntry:
    session.add(entry)
    session.flush()
    open_balances.entries_applied(
        session, entry.tenant_id, [(entry.invoice_id, entry.amount_minor)]
    )
    return entry


def insert_entries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Many entries in one ``executemany`` (no ids come back: a batch settling payments
    reads none of them).

    Tenant: each row carries its tenant_id, stamped by ``ledger.service.record_entries``.
    """
    if rows:
        # The table, not the entity: no ORM bookkeeping per row.
        session.execute(insert(cast(Table, LedgerEntry.__table__)), list(rows))
        open_balances.entries_applied(
            session, rows[0]["tenant_id"], [(r["invoice_id"], r["amount_minor"]) for r in rows]
        )


def insert_full_balances(
    session: Session,
    tenant_id: int,
    candidates: Select[Any],
    *,
    entry_type: str,
    status: str,
    effective_from: date,
    reference: str | None,
    source: str,
    now: datetime,
) -> dict[int, int]:
    """One entry of each invoice's whole balance, for every invoice in ``status`` with a
    positive balance among ``candidates``, in ONE ``INSERT ... SELECT``: no row travels
    through Python. Dated ``effective_from``, or the invoice's date when later. Returns
    invoice id -> entry id of what was written.

    ``candidates`` is a query whose FROM clause includes the ``invoices`` table, joined as
    the caller's rows lead to it (a bulk job's records, say), each row one invoice. It is
    planned as given: driving the statement from those rows keeps SQLite from scanning
    the tenant's invoices (as ``invoices.id IN (...)`` does), and ``OFFSET 0`` keeps
    PostgreSQL from pushing this function's tenant filter into it, where an index that
    leads with the tenant and statistics older than a big load made it hash every invoice
    of the tenant for each call.

    The balances are read by this statement, so the caller must hold the invoices' locks
    (or SQLite's write lock) from before it runs until it commits.
    """
    balance = (Invoice.amount_minor - applied_sum(tenant_id)).label("balance")
    found = (
        candidates.with_only_columns(
            Invoice.tenant_id,
            Invoice.status,
            Invoice.id,
            Invoice.account_id,
            Invoice.currency,
            Invoice.invoice_date,
            balance,
        )
        .offset(0)
        .subquery("found")
    )
    owing = (
        select(found)
        .where(found.c.tenant_id == tenant_id, found.c.status == status, found.c.balance > 0)
        .subquery("owing")
    )
    effective = literal(effective_from, Date)
    rows = select(
        literal(tenant_id, BigInteger),
        owing.c.account_id,
        owing.c.id,
        literal(entry_type),
        owing.c.balance,
        owing.c.currency,
        case((owing.c.invoice_date > effective, owing.c.invoice_date), else_=effective),
        literal(reference) if reference is not None else null(),
        null(),
        literal(source),
        literal(now, UtcDateTime()),
    ).order_by(owing.c.id)
    columns = [
        "tenant_id",
        "account_id",
        "invoice_id",
        "entry_type",
        "amount_minor",
        "currency",
        "effective_date",
        "reference",
        "comment",
        "source",
        "created_at",
    ]
    result = session.execute(
        insert(_entries)
        .from_select(columns, rows)
        .returning(_entries.c.invoice_id, _entries.c.id, _entries.c.amount_minor)
    ).all()
    open_balances.entries_applied(session, tenant_id, [(row[0], row[2]) for row in result])
    return {row[0]: row[1] for row in result}


def applied_sum(tenant_id: int) -> Any:
    """A correlated scalar subquery: what the ledger applied to the outer ``invoices`` row.

    Exposed so that read queries listing invoices (billing documents, account summaries)
    compute balances in the same statement instead of one query per invoice.
    """
    return (
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
        .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.invoice_id == Invoice.id)
        .correlate(Invoice)
        .scalar_subquery()
    )


def balance_column(tenant_id: int) -> ColumnElement[int]:
    """``invoices.amount_minor`` less the ledger: the balance of the outer invoice row."""
    balance: ColumnElement[int] = (Invoice.amount_minor - applied_sum(tenant_id)).label(
        "balance_minor"
    )
    return balance


def balances(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> dict[int, int]:
    result: dict[int, int] = {}
    unique = sorted(set(invoice_ids))
    for chunk in chunks(unique):
        applied = (
            select(
                LedgerEntry.invoice_id.label("invoice_id"),
                func.sum(LedgerEntry.amount_minor).label("applied"),
            )
            .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.invoice_id.in_(chunk))
            .group_by(LedgerEntry.invoice_id)
            .subquery()
        )
        rows = session.execute(
            select(Invoice.id, Invoice.amount_minor - func.coalesce(applied.c.applied, 0))
            .outerjoin(applied, applied.c.invoice_id == Invoice.id)
            .where(Invoice.tenant_id == tenant_id, Invoice.id.in_(chunk))
        ).all()
        result.update((row[0], int(row[1])) for row in rows)
    return result


def totals_by_type(
    session: Session, tenant_id: int, invoice_ids: Sequence[int]
) -> list[tuple[int, str, int]]:
    """``(invoice_id, entry_type, total)`` for every type that has entries."""
    rows: list[tuple[int, str, int]] = []
    unique = sorted(set(invoice_ids))
    for chunk in chunks(unique):
        stmt = (
            select(
                LedgerEntry.invoice_id,
                LedgerEntry.entry_type,
                func.sum(LedgerEntry.amount_minor),
            )
            .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.invoice_id.in_(chunk))
            .group_by(LedgerEntry.invoice_id, LedgerEntry.entry_type)
        )
        rows.extend(
            (int(row[0]), row[1], int(row[2]))
            for row in session.execute(stmt)
            if row[0] is not None
        )
    return rows


def entries_of(session: Session, tenant_id: int, invoice_id: int) -> list[LedgerEntry]:
    return list(
        session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.invoice_id == invoice_id)
            .order_by(LedgerEntry.id)
        )
    )


def get_entry(session: Session, tenant_id: int, entry_id: int) -> LedgerEntry | None:
    return session.scalars(
        select(LedgerEntry).where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.id == entry_id)
    ).first()


def totals_by_payment(
    session: Session, tenant_id: int, payment_ids: Sequence[int]
) -> list[tuple[int, str, int]]:
    """``(payment_id, entry_type, net total)`` for every type a payment has entries of."""
    rows: list[tuple[int, str, int]] = []
    for chunk in chunks(sorted(set(payment_ids))):
        stmt = (
            select(
                LedgerEntry.payment_id,
                LedgerEntry.entry_type,
                func.sum(LedgerEntry.amount_minor),
            )
            .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.payment_id.in_(chunk))
            .group_by(LedgerEntry.payment_id, LedgerEntry.entry_type)
        )
        rows.extend((int(row[0] or 0), row[1], int(row[2])) for row in session.execute(stmt))
    return rows


def payment_applications(
    session: Session, tenant_id: int, payment_id: int
) -> list[tuple[int, int | None, int]]:
    stmt = (
        select(
            LedgerEntry.invoice_id,
            LedgerEntry.invoice_item_id,
            func.sum(LedgerEntry.amount_minor),
        )
        .where(
            LedgerEntry.tenant_id == tenant_id,
            LedgerEntry.payment_id == payment_id,
            LedgerEntry.invoice_id.is_not(None),
        )
        .group_by(LedgerEntry.invoice_id, LedgerEntry.invoice_item_id)
        .order_by(LedgerEntry.invoice_id, LedgerEntry.invoice_item_id)
    )
    return [
        (int(row[0] or 0), row[1], int(row[2])) for row in session.execute(stmt) if int(row[2]) != 0
    ]


def item_applied(session: Session, tenant_id: int, invoice_id: int) -> dict[int, int]:
    stmt = (
        select(LedgerEntry.invoice_item_id, func.sum(LedgerEntry.amount_minor))
        .where(
            LedgerEntry.tenant_id == tenant_id,
            LedgerEntry.invoice_id == invoice_id,
            LedgerEntry.invoice_item_id.is_not(None),
        )
        .group_by(LedgerEntry.invoice_item_id)
    )
    return {int(row[0] or 0): int(row[1]) for row in session.execute(stmt)}


def account_credit_minor(session: Session, tenant_id: int, account_id: int) -> int:
    """Payment money on the account less what of it went to invoices: every payment
    entry's amount, with the invoice-level ones (applications) counted against it."""
    signed = case(
        (LedgerEntry.invoice_id.is_(None), LedgerEntry.amount_minor),
        else_=-LedgerEntry.amount_minor,
    )
    total = session.execute(
        select(func.coalesce(func.sum(signed), 0)).where(
            LedgerEntry.tenant_id == tenant_id,
            LedgerEntry.account_id == account_id,
            LedgerEntry.payment_id.is_not(None),
        )
    ).scalar_one()
    return int(total)
