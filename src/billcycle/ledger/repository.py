"""All SQL of the accounts-receivable ledger.

Balances are derived, never stored: an invoice's balance is its amount less the sum of
the entries applied to it. Every read here is one set-based statement per chunk of
invoice ids, so a bill run or a bulk job asking for thousands of balances costs a few
round trips, not one per invoice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select
from sqlalchemy.orm import Session

from billcycle.invoicing.models import Invoice
from billcycle.ledger.models import LedgerEntry

# Well under PostgreSQL's 65,535 and SQLite's 32,766 bound parameters per statement.
ID_CHUNK = 5_000


def chunks(ids: Sequence[int], size: int = ID_CHUNK) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def insert_entry(session: Session, entry: LedgerEntry) -> LedgerEntry:
    session.add(entry)
    session.flush()
    return entry


def insert_entries(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Many entries in one statement; their ids in the order given."""
    if not rows:
        return []
    result = session.execute(
        insert(LedgerEntry).returning(LedgerEntry.id, sort_by_parameter_order=True), list(rows)
    )
    return [row[0] for row in result.all()]


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
