"""All SQL of payment activities, of the open invoices auto-allocation reads, and of the
set-based payment writes of bulk jobs (payments, their ledger entries and activities in
a few bulk statements)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any, cast

from sqlalchemy import BigInteger, Table, any_, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from billcycle.db.bulk import (
    copy_lines,
    copy_text,
    copy_value,
    dbapi,
    is_postgres,
    sqlite_insert,
    sqlite_storage_value,
)
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger.repository import applied_sum
from billcycle.payments.activity_models import PaymentActivity

_act = cast(Table, PaymentActivity.__table__).c
_inv = cast(Table, Invoice.__table__).c


def insert(session: Session, activity: PaymentActivity) -> PaymentActivity:
    session.add(activity)
    session.flush()
    return activity


def get_activity(session: Session, tenant_id: int, activity_id: int) -> PaymentActivity | None:
    return session.scalars(
        select(PaymentActivity).where(
            PaymentActivity.tenant_id == tenant_id, PaymentActivity.id == activity_id
        )
    ).first()


def activity_of_payment(
    session: Session, tenant_id: int, payment_id: int
) -> PaymentActivity | None:
    """The collection that created the payment (its first activity)."""
    return session.scalars(
        select(PaymentActivity)
        .where(
            PaymentActivity.tenant_id == tenant_id,
            PaymentActivity.payment_id == payment_id,
            PaymentActivity.refund_id.is_(None),
        )
        .order_by(PaymentActivity.id)
        .limit(1)
    ).first()


def activities_of_refunds(
    session: Session, tenant_id: int, refund_ids: Sequence[int]
) -> dict[int, PaymentActivity]:
    if not refund_ids:
        return {}
    rows = session.scalars(
        select(PaymentActivity).where(
            PaymentActivity.tenant_id == tenant_id,
            PaymentActivity.refund_id.in_(list(refund_ids)),
        )
    )
    return {row.refund_id: row for row in rows if row.refund_id is not None}


def page_of_activities(
    session: Session,
    tenant_id: int,
    *,
    account_id: int | None,
    offset: int,
    limit: int,
    ascending: bool,
) -> tuple[list[PaymentActivity], int]:
    """A page of the tenant's (or one account's) activities by id, and how many there are."""
    where = [PaymentActivity.tenant_id == tenant_id]
    if account_id is not None:
        where.append(PaymentActivity.account_id == account_id)
    total = int(
        session.scalar(select(func.count()).select_from(PaymentActivity).where(*where)) or 0
    )
    order = PaymentActivity.id.asc() if ascending else PaymentActivity.id.desc()
    rows = session.scalars(
        select(PaymentActivity).where(*where).order_by(order).offset(offset).limit(limit)
    )
    return list(rows), total


# -- open invoices ----------------------------------------------------------------------


def open_invoices(
    session: Session, tenant_id: int, account_ids: Sequence[int]
) -> list[tuple[int, int, int, date]]:
    """``(account_id, invoice_id, balance_minor, invoice_date)`` of the accounts' posted
    invoices that owe something, oldest first (invoice date, then id)."""
    if not account_ids:
        return []
    balance = (_inv.amount_minor - applied_sum(tenant_id)).label("balance")
    found: list[tuple[int, int, int, date]] = []
    unique = sorted(set(account_ids))
    for start in range(0, len(unique), 1000):
        chunk = unique[start : start + 1000]
        inner = (
            select(_inv.account_id, _inv.id, _inv.invoice_date, balance)
            .where(
                _inv.tenant_id == tenant_id,
                _inv.account_id.in_(chunk),
                _inv.status == InvoiceStatus.POSTED,
            )
            .subquery()
        )
        rows = session.execute(
            select(inner.c.account_id, inner.c.id, inner.c.balance, inner.c.invoice_date)
            .where(inner.c.balance > 0)
            .order_by(inner.c.account_id, inner.c.invoice_date, inner.c.id)
        ).all()
        found.extend((int(a), int(i), int(b), d) for a, i, b, d in rows)
    return found


def lock_invoices(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> None:
    """Row locks on the tenant's invoices among ``invoice_ids``, in id order (the order
    every writer takes them), held until the unit of work ends. PostgreSQL only: on
    SQLite the caller already holds the database's single write lock.

    ``tenant_id + 0`` and one array parameter: the ids are looked up by primary key (an
    index that leads with the tenant made the planner read the tenant's every invoice).
    """
    if not invoice_ids or not is_postgres(session):
        return
    unique = sorted(set(invoice_ids))
    session.execute(
        select(_inv.id)
        .where(
            _inv.tenant_id + 0 == tenant_id,
            _inv.id == any_(bindparam(None, unique, type_=ARRAY(BigInteger))),
        )
        .order_by(_inv.id)
        .with_for_update()
    ).all()


def invoice_facts(
    session: Session, tenant_id: int, invoice_ids: Sequence[int]
) -> dict[int, tuple[int, str, int, date]]:
    """Invoice id -> (account id, status, balance minor, invoice date) of those found in
    the tenant.

    One statement on the DB-API cursor whatever the number of ids (a JSON array on
    SQLite, an array on PostgreSQL): a bulk job's chunk asks for thousands, and binding
    them one parameter each through SQLAlchemy (an expanding IN, its result rows through
    the column types) cost several times the lookups themselves.
    """
    unique = sorted(set(invoice_ids))
    if not unique:
        return {}
    postgres = is_postgres(session)
    cursor = dbapi(session).cursor()
    try:
        if postgres:
            cursor.execute(_INVOICE_FACTS_POSTGRES, (tenant_id, tenant_id, unique))
        else:
            cursor.execute(_INVOICE_FACTS_SQLITE, (tenant_id, tenant_id, json.dumps(unique)))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if postgres:
        return {int(i): (int(a), str(s), int(b), d) for i, a, s, b, d in rows}
    day = date.fromisoformat
    return {int(i): (int(a), str(s), int(b), day(d)) for i, a, s, b, d in rows}


# ``tenant_id + 0``: the ids are looked up by primary key, not through an index that
# leads with the tenant (the planner's choice otherwise, reading the tenant's invoices).
_INVOICE_FACTS = (
    "SELECT i.id, i.account_id, i.status, i.amount_minor - COALESCE(("
    "SELECT SUM(l.amount_minor) FROM ledger_entries l "
    "WHERE l.invoice_id = i.id AND l.tenant_id = {p}), 0), i.invoice_date "
    "FROM invoices i WHERE i.tenant_id + 0 = {p} AND i.id {ids}"
)
_INVOICE_FACTS_SQLITE = _INVOICE_FACTS.format(p="?", ids="IN (SELECT value FROM json_each(?))")
_INVOICE_FACTS_POSTGRES = _INVOICE_FACTS.format(p="%s", ids="= ANY(%s)")


# -- bulk writes -------------------------------------------------------------------------


def allocate_payment_ids(session: Session, count: int) -> list[int]:
    """Ids for ``count`` new payments, taken before inserting so rows can be streamed
    without RETURNING (as ``invoicing.generator_repository.allocate_invoice_ids``):
    PostgreSQL draws them from the table's sequence; SQLite continues after the current
    maximum (of the payments and of the ids a payment run's slice in flight holds), safe
    under its single write lock, which the caller holds.

    PostgreSQL: the sequence found once, by an uncorrelated subquery (an InitPlan) that
    already yields its ``regclass``: written ``nextval(pg_get_serial_sequence(...))``
    the look-up of the sequence by name ran again for every id (~15 us an id, 2,000 a
    payment run's slice; now ~2 us, measured with 40,000 ids).

    Tenant: payment ids come from one sequence that every tenant shares.
    """
    if count <= 0:
        return []
    if is_postgres(session):
        return list(
            session.scalars(
                text(
                    "SELECT nextval((SELECT pg_get_serial_sequence('payments', 'id')::regclass)) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": count},
            )
        )
    # A payment run's slice in flight holds its ids before its payments are written
    # (``pending_repository.add_in_flight``): those are taken too.
    top = (
        session.scalar(
            text(
                "SELECT MAX(COALESCE((SELECT MAX(id) FROM payments), 0), "
                "COALESCE((SELECT MAX(last_payment_id) FROM payments_in_flight), 0))"
            )
        )
        or 0
    )
    return list(range(int(top) + 1, int(top) + 1 + count))


class Stored:
    """Values in the form the bulk path takes them, converted once per value rather than
    once per row: SQLAlchemy's storage forms for SQLite's executemany, COPY text for
    PostgreSQL (where every value of a row is then already text, joined as is)."""

    def __init__(self, session: Session) -> None:
        self.postgres = is_postgres(session)
        self.null: Any = "\\N" if self.postgres else None

    def value(self, value: Any) -> Any:
        if value is None:
            return self.null
        return copy_value(value) if self.postgres else sqlite_storage_value(value)

    def text(self, value: str | None) -> Any:
        """A client's text (a reference), escaped for COPY."""
        if value is None:
            return self.null
        return copy_text(value) if self.postgres else value


def bulk_insert(
    session: Session, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Rows of ``Stored`` values (and ints) in the database's fastest bulk path: COPY on
    PostgreSQL, the DB-API's executemany on SQLite, on the session's transaction.

    Tenant: every row carries the tenant the caller resolved.
    """
    if not rows:
        return
    if is_postgres(session):
        lines = "".join("\t".join(map(str, row)) + "\n" for row in rows)
        copy_lines(dbapi(session), table, columns, [lines])
        return
    dbapi(session).executemany(sqlite_insert(table, columns), rows)


def invoice_numbers(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> dict[int, str]:
    if not invoice_ids:
        return {}
    rows = session.execute(
        select(_inv.id, _inv.invoice_number).where(
            _inv.tenant_id == tenant_id, _inv.id.in_(list(invoice_ids))
        )
    ).all()
    return {int(i): str(n) for i, n in rows}
