"""All SQL for settlement-aware invoice lists: posted invoices with their balances, what the
ledger applied to them per entry type, and their settlement status, filtered, sorted and
paged in ONE statement.

The settlement status is computed here, in SQL, and nowhere else, so a list filtered on
``Overdue`` and a single invoice read agree by construction:

- ``WrittenOff``: nothing is owed and a write-off is part of why;
- ``Paid``: nothing is owed;
- ``Overdue``: something is owed and the due date has passed;
- ``PartiallyPaid``: something is owed, less than the invoice amount;
- ``Unpaid``: the whole amount is still owed.

Only posted invoices are listed: drafts are not yet receivables, and a cancelled invoice
was a draft that was never posted.

Filters arrive as a neutral structure (:class:`Condition` over :class:`InvoiceField`):
each condition is an OR of alternatives (:class:`Equals`, :class:`Like`, :class:`Between`,
:class:`IsEmpty`), conditions are ANDed. Dates and times are compared as instants (a date
is the instant at its midnight, UTC); money is given as decimals and compared in the
currency's minor units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select, true
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import Subquery

from billcycle.invoicing.models import Invoice
from billcycle.invoicing.statuses import InvoiceStatus, SettlementStatus
from billcycle.ledger import repository as ledger_repo
from billcycle.ledger.models import EntryType, LedgerEntry
from billcycle.money import minor_unit_exponent


class InvoiceField(StrEnum):
    """What an invoice list can be filtered and sorted on."""

    ID = "id"
    NUMBER = "number"
    STATUS = "status"
    INVOICE_DATE = "invoice_date"
    DUE_DATE = "due_date"
    POSTED_AT = "posted_at"
    UPDATED_AT = "updated_at"
    AMOUNT = "amount"
    BALANCE = "balance"
    CURRENCY = "currency"


# -- the neutral filter structure ------------------------------------------------------

Scalar = str | int | Decimal | datetime
F = TypeVar("F")


@dataclass(frozen=True, slots=True)
class Equals:
    value: Scalar


@dataclass(frozen=True, slots=True)
class Like:
    """A text pattern where ``*`` stands for any run of characters; case-insensitive."""

    pattern: str


@dataclass(frozen=True, slots=True)
class Between:
    """``lower <= value`` and ``value < upper`` (``<=`` when ``upper_inclusive``); either
    bound may be open."""

    lower: Scalar | None
    upper: Scalar | None
    upper_inclusive: bool = False


@dataclass(frozen=True, slots=True)
class IsEmpty:
    """No value (NULL, or an empty text)."""


Match = Equals | Like | Between | IsEmpty


@dataclass(frozen=True, slots=True)
class Condition(Generic[F]):
    """The field matches at least one of the alternatives."""

    field: F
    alternatives: tuple[Match, ...]


# -- rows ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SettlementRow:
    """A posted invoice with what the ledger says about it (amounts in minor units)."""

    id: int
    account_id: int
    invoice_number: str
    currency: str
    invoice_date: date
    due_date: date
    posted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    amount_minor: int
    tax_minor: int
    balance_minor: int
    write_off_minor: int
    payment_minor: int
    credit_memo_minor: int
    refund_minor: int
    status: SettlementStatus


@dataclass(frozen=True, slots=True)
class SettlementPage:
    rows: list[SettlementRow]
    total: int


def _applied_of_type(tenant_id: int, entry_type: EntryType) -> Any:
    """What entries of one type applied to the outer ``invoices`` row (correlated)."""
    return (
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
        .where(
            LedgerEntry.tenant_id == tenant_id,
            LedgerEntry.invoice_id == Invoice.id,
            LedgerEntry.entry_type == entry_type.value,
        )
        .correlate(Invoice)
        .scalar_subquery()
    )


def _posted(tenant_id: int, *where: ColumnElement[bool]) -> Subquery:
    """Posted invoices of the tenant with balance and per-type totals as columns."""
    return (
        select(
            Invoice.id.label("id"),
            Invoice.account_id.label("account_id"),
            Invoice.invoice_number.label("invoice_number"),
            Invoice.currency.label("currency"),
            Invoice.invoice_date.label("invoice_date"),
            Invoice.due_date.label("due_date"),
            Invoice.posted_at.label("posted_at"),
            Invoice.created_at.label("created_at"),
            Invoice.updated_at.label("updated_at"),
            Invoice.amount_minor.label("amount_minor"),
            Invoice.tax_amount_minor.label("tax_minor"),
            ledger_repo.balance_column(tenant_id),
            _applied_of_type(tenant_id, EntryType.WRITE_OFF).label("write_off_minor"),
            _applied_of_type(tenant_id, EntryType.PAYMENT).label("payment_minor"),
            _applied_of_type(tenant_id, EntryType.CREDIT_MEMO).label("credit_memo_minor"),
            _applied_of_type(tenant_id, EntryType.REFUND).label("refund_minor"),
        )
        .where(Invoice.tenant_id == tenant_id, Invoice.status == InvoiceStatus.POSTED, *where)
        .subquery("posted")
    )


def _overdue(posted: Subquery, today: date) -> ColumnElement[bool]:
    return and_(posted.c.balance_minor > 0, posted.c.due_date < today)


def _status(posted: Subquery, today: date) -> ColumnElement[str]:
    c = posted.c
    status: ColumnElement[str] = case(
        (and_(c.balance_minor == 0, c.write_off_minor != 0), SettlementStatus.WRITTEN_OFF.value),
        (c.balance_minor == 0, SettlementStatus.PAID.value),
        (_overdue(posted, today), SettlementStatus.OVERDUE.value),
        (c.balance_minor != c.amount_minor, SettlementStatus.PARTIALLY_PAID.value),
        else_=SettlementStatus.UNPAID.value,
    )
    return status


def _columns(posted: Subquery, today: date) -> dict[InvoiceField, ColumnElement[Any]]:
    c = posted.c
    return {
        InvoiceField.ID: c.id,
        InvoiceField.NUMBER: c.invoice_number,
        InvoiceField.STATUS: _status(posted, today),
        InvoiceField.INVOICE_DATE: c.invoice_date,
        InvoiceField.DUE_DATE: c.due_date,
        InvoiceField.POSTED_AT: c.posted_at,
        InvoiceField.UPDATED_AT: c.updated_at,
        InvoiceField.AMOUNT: c.amount_minor,
        InvoiceField.BALANCE: c.balance_minor,
        InvoiceField.CURRENCY: c.currency,
    }


_DATE_FIELDS = frozenset({InvoiceField.INVOICE_DATE, InvoiceField.DUE_DATE})
_MINOR_FIELDS = frozenset({InvoiceField.AMOUNT, InvoiceField.BALANCE})
_TEXT_FIELDS = frozenset({InvoiceField.NUMBER, InvoiceField.STATUS, InvoiceField.CURRENCY})


# -- filters ---------------------------------------------------------------------------


def _like_pattern(pattern: str) -> str:
    escaped = pattern.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def _instant(value: Scalar) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"a date or time bound must be a datetime, not {value!r}")
    return value.astimezone(UTC)


def _first_day_from(value: Scalar) -> date | None:
    """The first date whose midnight is at or after the instant; None when that would be
    past the last date of the calendar (an instant during 9999-12-31)."""
    instant = _instant(value)
    if instant.time() == time(0):
        return instant.date()
    if instant.date() == date.max:
        return None
    return instant.date() + timedelta(days=1)


def _all(terms: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return and_(true(), *terms)


def _minor(value: Scalar, exponent: int) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"a money bound must be a Decimal, not {value!r}")
    return value.scaleb(exponent)


def _money_match(column: ColumnElement[Any], match: Match, exponent: int) -> ColumnElement[bool]:
    if isinstance(match, Equals):
        scaled = _minor(match.value, exponent)
        if scaled != scaled.to_integral_value():
            return false()  # more decimals than the currency has: no amount equals it
        return column == int(scaled)
    if isinstance(match, Between):
        terms: list[ColumnElement[bool]] = []
        if match.lower is not None:
            terms.append(column >= math.ceil(_minor(match.lower, exponent)))
        if match.upper is not None:
            upper = _minor(match.upper, exponent)
            if match.upper_inclusive:
                terms.append(column <= math.floor(upper))
            else:
                terms.append(column < math.ceil(upper))
        return _all(terms)
    return _generic_match(column, match, text=False)


def _date_match(column: ColumnElement[Any], match: Match) -> ColumnElement[bool]:
    """A date column's value is the instant at its midnight."""
    if isinstance(match, Between):
        terms: list[ColumnElement[bool]] = []
        if match.lower is not None:
            first = _first_day_from(match.lower)
            terms.append(column >= first if first is not None else false())
        if match.upper is not None:
            if match.upper_inclusive:
                terms.append(column <= _instant(match.upper).date())
            else:
                after = _first_day_from(match.upper)
                if after is not None:
                    terms.append(column < after)
        return _all(terms)
    if isinstance(match, Equals):
        instant = _instant(match.value)
        return column == instant.date() if instant.time() == time(0) else false()
    return _generic_match(column, match, text=False)


def _generic_match(column: ColumnElement[Any], match: Match, *, text: bool) -> ColumnElement[bool]:
    if isinstance(match, IsEmpty):
        return or_(column.is_(None), column == "") if text else column.is_(None)
    if isinstance(match, Like):
        return func.lower(column).like(_like_pattern(match.pattern), escape="\\")
    if isinstance(match, Equals):
        if text and isinstance(match.value, str):
            return func.lower(column) == match.value.lower()
        return column == match.value
    terms: list[ColumnElement[bool]] = []
    if match.lower is not None:
        terms.append(column >= match.lower)
    if match.upper is not None:
        terms.append(column <= match.upper if match.upper_inclusive else column < match.upper)
    return _all(terms)


def _condition(
    field: InvoiceField, column: ColumnElement[Any], match: Match, exponent: int
) -> ColumnElement[bool]:
    if field in _MINOR_FIELDS:
        return _money_match(column, match, exponent)
    if field in _DATE_FIELDS:
        return _date_match(column, match)
    return _generic_match(column, match, text=field in _TEXT_FIELDS)


def _filters(
    columns: dict[InvoiceField, ColumnElement[Any]],
    conditions: Sequence[Condition[InvoiceField]],
    currency: str,
) -> list[ColumnElement[bool]]:
    exponent = minor_unit_exponent(currency)
    return [
        or_(
            *(
                _condition(condition.field, columns[condition.field], match, exponent)
                for match in condition.alternatives
            )
        )
        for condition in conditions
        if condition.alternatives
    ]


# -- reads -----------------------------------------------------------------------------


_PLAIN_COLUMNS = (
    "id",
    "account_id",
    "invoice_number",
    "currency",
    "invoice_date",
    "due_date",
    "posted_at",
    "created_at",
    "updated_at",
)
# Sums come back as NUMERIC on PostgreSQL: read as ints.
_MINOR_COLUMNS = (
    "amount_minor",
    "tax_minor",
    "balance_minor",
    "write_off_minor",
    "payment_minor",
    "credit_memo_minor",
    "refund_minor",
)


def _selected(posted: Subquery, today: date) -> list[ColumnElement[Any]]:
    return [
        *(posted.c[name] for name in (*_PLAIN_COLUMNS, *_MINOR_COLUMNS)),
        _status(posted, today).label("status"),
    ]


def _row(values: RowMapping) -> SettlementRow:
    fields: dict[str, Any] = {name: values[name] for name in _PLAIN_COLUMNS}
    fields.update((name, int(values[name])) for name in _MINOR_COLUMNS)
    return SettlementRow(**fields, status=SettlementStatus(values["status"]))


def posted_invoice(
    session: Session, tenant_id: int, invoice_id: int, *, today: date
) -> SettlementRow | None:
    posted = _posted(tenant_id, Invoice.id == invoice_id)
    found = session.execute(select(*_selected(posted, today))).mappings().first()
    return _row(found) if found is not None else None


def account_invoices(
    session: Session,
    tenant_id: int,
    account_id: int,
    *,
    currency: str,
    today: date,
    conditions: Sequence[Condition[InvoiceField]],
    sort: InvoiceField,
    descending: bool,
    offset: int,
    limit: int,
) -> SettlementPage:
    """A page of the account's posted invoices and how many match in all.

    One statement: the total rides along as a window count. Only a page past the end
    (no rows to carry it) costs a second, counting statement.
    """
    posted = _posted(tenant_id, Invoice.account_id == account_id)
    columns = _columns(posted, today)
    where = _filters(columns, conditions, currency)
    key = columns[sort]
    order = [key.desc() if descending else key.asc()]
    order.append(posted.c.id.desc() if descending else posted.c.id.asc())
    stmt = (
        select(*_selected(posted, today), func.count().over().label("total"))
        .where(*where)
        .order_by(*order)
        .offset(offset)
        .limit(limit)
    )
    fetched = session.execute(stmt).mappings().all()
    if fetched:
        return SettlementPage([_row(values) for values in fetched], int(fetched[0]["total"]))
    if offset == 0:
        return SettlementPage([], 0)
    total = session.scalar(select(func.count()).select_from(posted).where(*where))
    return SettlementPage([], int(total or 0))


def has_overdue_balance(session: Session, tenant_id: int, account_id: int, *, today: date) -> bool:
    """Whether a posted invoice of the account is past its due date with something owed."""
    posted = _posted(
        tenant_id,
        Invoice.account_id == account_id,
        Invoice.due_date < today,
    )
    found = session.execute(select(posted.c.id).where(_overdue(posted, today)).limit(1)).first()
    return found is not None
