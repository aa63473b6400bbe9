"""Events written set-based in SQL: ``INSERT INTO events ... SELECT`` over the rows a
chunk just changed, each payload built by the database with its JSON functions.

Why: a bill run's posting chunk moves 20,000 invoices with one UPDATE (~10 µs an
invoice); reading those rows back, building 20,000 payloads in Python and inserting them
cost 15 times the UPDATE (docs/benchmarks.md). Here no row leaves the database.

The payload is the one ``payloads.snapshot`` builds from the same row (a test compares
them on both databases): snake_case columns except ``tenant_id``, ISO 8601 dates and
instants (``2026-02-01T09:00:00+00:00``, microseconds only when there are some), every
``*_minor`` amount also as an exact decimal string of its currency. SQLite spells the
JSON object ``json_object``, PostgreSQL ``json_build_object``; both take alternating keys
and values, and nest.

The event ids are ``evt_`` + a ULID like ``service.new_event_id``'s: the service reserves
a block of 2**30 consecutive ULIDs (:func:`service.reserve_event_ids`) and the statement
writes the row's number in the block, in decimal, as the last six characters (decimal
digits are base-32 digits too, and fixed-width decimal sorts as the number does).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Date,
    FromClause,
    Integer,
    String,
    Table,
    Text,
    and_,
    case,
    false,
    func,
    insert,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from billcycle.db.bulk import is_postgres
from billcycle.db.types import UtcDateTime
from billcycle.events.models import Event
from billcycle.events.payloads import LEFT_OUT
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger.models import LedgerEntry
from billcycle.payments.models import Payment

# A reserved ULID block ends in BLOCK_DIGITS base-32 characters (5 bits each) that the
# statement fills with the row's number in decimal: at most 10**BLOCK_DIGITS - 1 rows.
BLOCK_DIGITS = 6
BLOCK_BITS = 5 * BLOCK_DIGITS

_invoices = cast(Table, Invoice.__table__)
_entries = cast(Table, LedgerEntry.__table__)
_events = cast(Table, Event.__table__)

# Ids named in one statement's ``IN`` list.
IDS_PER_STATEMENT = 1000


def _key(name: str) -> ColumnElement[Any]:
    # A literal, not a parameter: PostgreSQL cannot type a parameter of json_build_object.
    return literal_column("'" + name.replace("'", "''") + "'")


def json_object(postgres: bool, entries: Mapping[str, ColumnElement[Any]]) -> ColumnElement[Any]:
    args: list[ColumnElement[Any]] = []
    for name, value in entries.items():
        args += [_key(name), value]
    return func.json_build_object(*args) if postgres else func.json_object(*args)


def _iso_date(postgres: bool, column: ColumnElement[Any]) -> ColumnElement[Any]:
    # SQLite keeps a date as its ISO text already.
    return func.to_char(column, literal_column("'YYYY-MM-DD'")) if postgres else column


def _iso_instant(postgres: bool, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``datetime.isoformat()`` of a UTC instant: ``.ffffff`` only when not zero. (Two
    ``replace`` calls rather than a ``CASE``: this runs for five columns of every row.)"""
    if postgres:
        utc = column.op("AT TIME ZONE")(literal_column("'UTC'"))
        text = func.to_char(utc, literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS.US'"))
    else:
        # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff' (a raw writer may leave it out).
        text = func.replace(column, literal_column("' '"), literal_column("'T'"))
    bare = func.replace(text, literal_column("'.000000'"), literal_column("''"))
    return bare.op("||")(literal_column("'+00:00'"))


@cache
def _currencies_by_exponent() -> dict[int, tuple[str, ...]]:
    """ISO 4217 codes whose minor unit is not 2 digits, by exponent (the rest are 2: the
    same default ``money.minor_unit_exponent`` gives an unknown code)."""
    from babel.numbers import get_currency_precision, list_currencies

    groups: dict[int, list[str]] = defaultdict(list)
    for code in sorted(list_currencies()):
        exponent = int(get_currency_precision(code))
        if exponent != 2:
            groups[exponent].append(code)
    return {exponent: tuple(codes) for exponent, codes in sorted(groups.items())}


def _as_text(value: ColumnElement[Any]) -> ColumnElement[Any]:
    return sql_cast(value, Text)


def _decimal_with(minor: ColumnElement[Any], exponent: int) -> ColumnElement[Any]:
    if exponent == 0:
        return _as_text(minor)
    scale = literal_column(str(10**exponent), BigInteger)
    magnitude = func.abs(minor)
    # ``scale + remainder`` as text, less its leading 1: the remainder zero-padded.
    digits = func.substr(_as_text(scale + magnitude % scale), 2)
    sign = case((minor < 0, literal_column("'-'")), else_=literal_column("''"))
    return (
        sign.op("||")(_as_text(magnitude.op("/")(scale)))
        .op("||")(literal_column("'.'"))
        .op("||")(digits)
    )


def decimal_text(
    minor: ColumnElement[Any], currency: ColumnElement[Any], present: Sequence[str] | None = None
) -> ColumnElement[Any]:
    """``payloads.decimal_text`` in SQL: 6000 USD is "60.00", 6000 JPY "6000".

    With ``present`` (the currencies the statement's rows have), the expression knows
    only those: one currency's exponent, or a ``CASE`` over a few codes. Without it, a
    ``CASE`` over every code whose exponent is not 2 (three times the cost a row).
    """
    groups = _currencies_by_exponent()
    if present is not None:
        wanted = set(present)
        exponent_of = {code: e for e, codes in groups.items() for code in codes}
        exponents = {exponent_of.get(code, 2) for code in wanted}
        if len(exponents) == 1:
            return _decimal_with(minor, exponents.pop())
        groups = {
            e: tuple(c for c in sorted(wanted) if exponent_of.get(c, 2) == e)
            for e in sorted(exponents)
        }
    whens = [
        (currency.in_([literal_column(f"'{code}'") for code in codes]), _decimal_with(minor, e))
        for e, codes in groups.items()
        if e != 2 and codes
    ]
    if not whens:
        return _decimal_with(minor, 2)
    return case(*whens, else_=_decimal_with(minor, 2))


def snapshot_entries(
    postgres: bool, table: FromClause, currencies: Sequence[str] | None = None
) -> dict[str, ColumnElement[Any]]:
    """``payloads.snapshot`` of a row of ``table``, as SQL expressions by key
    (``currencies``: those of the rows, see :func:`decimal_text`)."""
    entries: dict[str, ColumnElement[Any]] = {}
    columns = cast(Sequence[Column[Any]], list(table.columns))
    currency = next((c for c in columns if c.key == "currency"), None)
    for column in columns:
        if column.key in LEFT_OUT:
            continue
        kind = column.type
        if isinstance(kind, UtcDateTime):
            entries[column.key] = _iso_instant(postgres, column)
        elif isinstance(kind, Date):
            entries[column.key] = _iso_date(postgres, column)
        elif isinstance(kind, String | Text | Integer | BigInteger):
            entries[column.key] = column
        elif isinstance(kind, Boolean):
            entries[column.key] = (
                column
                if postgres
                else func.json(
                    case((column.is_(None), "null"), (column == 0, "false"), else_="true")
                )
            )
        else:  # a type this builder does not spell yet: say so rather than guess
            raise TypeError(f"{table}.{column.key}: no SQL payload for {kind!r}")
        if column.key.endswith("_minor") and currency is not None:
            entries[column.key[: -len("_minor")]] = decimal_text(column, currency, currencies)
    return entries


def insert_events(
    session: Session,
    *,
    tenant_id: int,
    event_type: str,
    object_type: str,
    occurred_at: datetime,
    id_prefix: str,
    source: FromClause,
    object_id: ColumnElement[Any],
    payload: ColumnElement[Any],
    where: Sequence[ColumnElement[bool]],
    fanned_out: bool = False,
) -> int:
    """One event per row of ``source`` matching ``where``, in one ``INSERT ... SELECT``;
    returns how many. ``id_prefix`` is a reserved ULID block's first 20 characters.
    ``fanned_out``: the caller makes the events' webhook deliveries itself, in the same
    transaction (:func:`billcycle.webhooks.repository.fan_out_block`).

    Tenant: the caller's ``where`` filters ``source`` on ``tenant_id``, which is also
    written on every event.
    """
    # The row's number in the block as BLOCK_DIGITS decimal digits (valid base-32
    # characters, in order): ``substr`` of ``10**BLOCK_DIGITS + n`` as text.
    number = func.row_number().over(order_by=object_id) - 1
    padded = sql_cast(literal_column(str(10**BLOCK_DIGITS), BigInteger) + number, Text)
    # The prefix is a parameter, not text in the statement: the statement then compiles
    # once per shape and is reused (a payment run writes one per slice of ~128 rows).
    event_id = sql_cast(literal(f"evt_{id_prefix}", String), Text).op("||")(func.substr(padded, 2))
    query = select(
        literal(tenant_id, BigInteger),
        event_id,
        literal(event_type, String),
        literal(object_type, String),
        object_id,
        literal(occurred_at, UtcDateTime),
        payload,
        true() if fanned_out else false(),
    ).select_from(source)
    query = query.where(and_(*where))
    result = session.execute(
        insert(_events)
        .from_select(
            [
                "tenant_id",
                "event_id",
                "type",
                "object_type",
                "object_id",
                "occurred_at",
                "payload",
                "fanned_out",
            ],
            query,
        )
        .execution_options(preserve_rowcount=True)  # else an INSERT's count reads -1
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def row_events(
    session: Session,
    table: Table,
    *,
    tenant_id: int,
    event_type: str,
    object_type: str,
    occurred_at: datetime,
    id_prefix: str,
    where: Sequence[ColumnElement[bool]],
    details: Mapping[str, ColumnElement[Any]] | None = None,
    joined: FromClause | None = None,
    fanned_out: bool = False,
) -> int:
    """``{"object": <row>, **details}`` for each row of ``table`` (invoices, payments)
    matching ``where`` (over ``table`` joined, when given, by ``joined``), in one
    statement; returns how many.

    Tenant: filters ``table`` on ``tenant_id`` here, whatever ``where`` says.
    """
    postgres = is_postgres(session)
    source = joined if joined is not None else table
    where = [table.c.tenant_id == tenant_id, *where]
    # The rows' currencies first (one cheap read), so each amount's text is built
    # without asking every row which currency it is in.
    currencies = list(
        session.scalars(select(table.c.currency).select_from(source).where(*where).distinct())
    )
    if not currencies:
        return 0
    snapshot = json_object(postgres, snapshot_entries(postgres, table, currencies))
    return insert_events(
        session,
        tenant_id=tenant_id,
        event_type=event_type,
        object_type=object_type,
        occurred_at=occurred_at,
        id_prefix=id_prefix,
        source=source,
        object_id=table.c.id,
        payload=json_object(postgres, {"object": snapshot, **(details or {})}),
        where=where,
        fanned_out=fanned_out,
    )


def _int_literal(value: int) -> ColumnElement[Any]:
    # Written into the text: the chunk's own range plans as such on PostgreSQL.
    return literal_column(str(int(value)), BigInteger)


def posted_run_invoices(
    bill_run_id: int, first_id: int, last_id: int, posted_since: datetime
) -> list[ColumnElement[bool]]:
    """A posting chunk's invoices that it posted (``row_events`` adds the tenant)."""
    inv = _invoices.c
    return [
        inv.bill_run_id == _int_literal(bill_run_id),
        inv.id.between(_int_literal(first_id), _int_literal(last_id)),
        inv.status == InvoiceStatus.POSTED.value,
        inv.posted_at >= literal(posted_since, UtcDateTime),
    ]


INVOICES = _invoices
PAYMENTS = cast(Table, Payment.__table__)


def payment_outcome_events(
    session: Session,
    *,
    tenant_id: int,
    event_type: str,
    object_type: str,
    occurred_at: datetime,
    id_prefix: str,
    payment_ids: Sequence[int],
) -> int:
    """``payment.processed`` / ``payment.failed`` for settled payments, in one statement:
    the payload ``{"object": {id, number, status, account_id, gateway_code,
    gateway_message, decline_category, transaction_id}}`` that ``payments.charging``
    emits for a payment settled one by one, built by the database from the payment's
    row as settled (its gateway answer's code, message and transaction id).

    Tenant: filters the payments on ``tenant_id``."""
    postgres = is_postgres(session)
    p = PAYMENTS.c
    settled = json_object(
        postgres,
        {
            "id": p.id,
            "number": p.number,
            "status": p.status,
            "account_id": p.account_id,
            "gateway_code": p.gateway_response_code,
            "gateway_message": p.gateway_response,
            "decline_category": p.decline_category,
            "transaction_id": p.gateway_transaction_id,
        },
    )
    return insert_events(
        session,
        tenant_id=tenant_id,
        event_type=event_type,
        object_type=object_type,
        occurred_at=occurred_at,
        id_prefix=id_prefix,
        source=PAYMENTS,
        object_id=p.id,
        payload=json_object(postgres, {"object": settled}),
        where=[p.tenant_id == tenant_id, *with_ids(PAYMENTS, payment_ids)],
    )


def with_ids(table: Table, ids: Sequence[int]) -> list[ColumnElement[bool]]:
    """``table.id`` among ``ids``; a range of two bound parameters when they are every id
    from the first to the last (a block allocated at once: a payment run's slice), which
    saves binding and expanding a thousand-id ``IN`` list."""
    unique = sorted({int(i) for i in ids})
    if unique and unique[-1] - unique[0] + 1 == len(unique):
        return [table.c.id.between(unique[0], unique[-1])]
    return [table.c.id.in_(unique)]


def write_off_entries(
    session: Session, tenant_id: int, entry_ids: Sequence[int]
) -> tuple[FromClause, list[ColumnElement[bool]], ColumnElement[Any]]:
    """The write-off entries ``entry_ids`` joined to their invoices, and each one's
    ``write_off`` detail as a single write-off writes it (``ledger.apply_write_off``)."""
    postgres = is_postgres(session)
    entry = _entries.c
    joined = _entries.join(_invoices, _invoices.c.id == entry.invoice_id)
    where = [entry.tenant_id == tenant_id, entry.id.in_([int(i) for i in entry_ids])]
    detail = json_object(
        postgres,
        {
            "entry_id": entry.id,
            "amount_minor": entry.amount_minor,
            "amount": decimal_text(entry.amount_minor, entry.currency),
            "reference": entry.reference,
            "comment": entry.comment,
        },
    )
    return joined, where, detail


def constants(values: Mapping[str, int | str]) -> dict[str, ColumnElement[Any]]:
    """Details every event of the statement carries (a bulk job's id), as SQL literals."""
    out: dict[str, ColumnElement[Any]] = {}
    for key, value in values.items():
        if isinstance(value, int):
            out[key] = _int_literal(value)
        else:
            out[key] = literal_column("'" + str(value).replace("'", "''") + "'", Text)
    return out
