"""All SQL of payments and refunds. Their money is in the ledger (``ledger.repository``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    and_,
    bindparam,
    delete,
    false,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from billcycle.accounts.models import Account
from billcycle.db.bulk import (
    PG_JSON_ROWS,
    PG_JSON_ROWS_NUMBERED,
    SQLITE_MATERIALIZED,
    dbapi,
    is_postgres,
    json_text,
)
from billcycle.db.engine import begin_sqlite_write
from billcycle.db.types import UtcDateTime
from billcycle.errors import InvalidValue
from billcycle.ledger.models import EntryType, LedgerEntry
from billcycle.money import to_minor
from billcycle.payments.activity_repository import Stored, allocate_payment_ids, bulk_insert
from billcycle.payments.inputs import PaymentQuery, RefundQuery, Span
from billcycle.payments.models import Payment, Refund
from billcycle.payments.statuses import PaymentSortField, RefundSortField


def insert(session: Session, row: Payment | Refund) -> None:
    if isinstance(row, Payment):
        _ids_for(session, [row])
    session.add(row)
    session.flush()


def _ids_for(session: Session, rows: Sequence[Payment]) -> None:
    """SQLite: new payments' ids from :func:`allocate_payment_ids`, not the table's
    rowid (the greatest plus one): a payment run's slice in flight holds the ids after
    the greatest until its payments are written (``pending_repository.add_in_flight``).
    PostgreSQL's sequence never gives an id twice."""
    fresh = [row for row in rows if row.id is None]
    if fresh and not is_postgres(session):
        hold_write_lock(session)
        for row, payment_id in zip(fresh, allocate_payment_ids(session, len(fresh)), strict=True):
            row.id = payment_id


def hold_write_lock(session: Session) -> None:
    """SQLite: take the database's single write lock now (BEGIN IMMEDIATE), so the set
    reads that follow see the state the writes after them will change. PostgreSQL's rows
    are locked where they are written."""
    if not is_postgres(session):
        begin_sqlite_write(dbapi(session))


def insert_many(session: Session, rows: Sequence[Payment]) -> None:
    """Many payments in one batched insert (ids come back onto the objects)."""
    if rows:
        _ids_for(session, rows)
        session.add_all(rows)
        session.flush()


def insert_rows(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Many payments (column dicts, every row the same keys) in the database's bulk path:
    ids allocated first (``activity_repository.allocate_payment_ids``), then COPY on
    PostgreSQL or the DB-API's executemany of storage values on SQLite, as the bill
    run's and BulkPayment's writers do: no ORM object, no type processing per value.
    Their ids in ``rows``' order. The caller holds SQLite's write lock
    (:func:`hold_write_lock`), under which the ids after the maximum are ours.

    Tenant: each row carries its tenant_id, stamped by ``payments.charging``."""
    if not rows:
        return []
    ids = allocate_payment_ids(session, len(rows))
    columns = list(rows[0])
    value = Stored(session).value  # a client's text is escaped for COPY too
    bulk_insert(
        session,
        "payments",
        ["id", *columns],
        [
            (payment_id, *(value(row[key]) for key in columns))
            for payment_id, row in zip(ids, rows, strict=True)
        ],
    )
    return ids


# A payment run's Processing payments from ONE JSON parameter, an array of rows holding
# only the columns that differ from one payment to another (``_run_payment_columns``);
# what every row shares is a parameter. Each holds its intention (its whole amount to its
# invoice) on its own row: ``pending_invoice_id``.
_RUN_PAYMENTS = """
{with}
INSERT INTO payments (id, tenant_id, account_id, number, amount_minor, currency,
    effective_date, payment_type, status, payment_method_id, gateway_id, gateway_order_id,
    gateway_state, comment, submitted_at, created_at, updated_at, attempt_key,
    attempt_source, pending_invoice_id)
SELECT {id}, :t, {account}, {number}, {amount}, {currency}, :day, :payment_type, :status,
       {method}, {gateway}, {number}, :state, {comment}, :now, :now, :now, {key}, :source,
       {invoice}
FROM {rows}
"""
# insert_run_payment_columns' columns: (name, SQL type of the value when it is bound
# once for every row, whether the JSON value is an integer). Text without a length: a
# cast to VARCHAR(n) would cut a longer value on PostgreSQL where the column refuses it.
_RUN_PAYMENT_COLUMNS = (
    ("account", "BIGINT", True),
    ("number", "VARCHAR", False),
    ("amount", "BIGINT", True),
    ("currency", "VARCHAR", False),
    ("method", "BIGINT", True),
    ("gateway", "BIGINT", True),
    ("comment", "VARCHAR", False),
    ("key", "VARCHAR", False),
    ("invoice", "BIGINT", True),
)


def _json_columns(postgres: bool, count: int, integers: Sequence[int]) -> dict[str, str]:
    """The ``{rows}`` source and its ``{cN}`` columns of a statement reading a JSON array
    of arrays (SQLite ``json_each``, PostgreSQL ``db.bulk.PG_JSON_ROWS``)."""
    if postgres:
        parts = {
            f"c{i}": f"(j.e->>{i})::bigint" if i in integers else f"(j.e->>{i})"
            for i in range(count)
        }
        parts["rows"] = PG_JSON_ROWS
    else:
        parts = {f"c{i}": f"json_extract(j.value, '$[{i}]')" for i in range(count)}
        parts["rows"] = "json_each(:rows) j"
    return parts


_ONCE = "WITH j AS {materialized} (SELECT key{columns} FROM json_each(:rows))"
_COLUMN = re.compile(r"\{c(\d+)\}", re.ASCII)


def json_rows_once(postgres: bool, template: str, integers: Sequence[int]) -> dict[str, str]:
    """:func:`_json_columns` for ``template`` with a ``{with}`` head, each column of the
    JSON rows read ONCE a row. SQLite's ``json_extract`` parses the row's array again at
    every reference (~0.3 µs each; a staged settle's statements named a column ~25 times
    a payment): there ``{with}`` is a ``MATERIALIZED`` step extracting each column the
    template names, once, and ``{rows}``/``{cN}`` read that step (``j.key``, the row's
    place in the array, is kept). PostgreSQL reads its parsed ``jsonb`` elements
    (``{with}`` empty)."""
    used = sorted({int(n) for n in _COLUMN.findall(template)})
    if postgres:
        parts = _json_columns(True, max(used, default=0) + 1, integers)
        parts["with"] = ""
        return parts
    columns = "".join(f", json_extract(value, '$[{i}]') AS c{i}" for i in used)
    parts = {f"c{i}": f"j.c{i}" for i in used}
    parts["with"] = _ONCE.format(materialized=SQLITE_MATERIALIZED, columns=columns)
    parts["rows"] = "j"
    return parts


def insert_run_payment_columns(
    session: Session,
    tenant_id: int,
    columns: Sequence[Sequence[Any]],
    *,
    attempt_source: str,
    day: date,
    now: datetime,
    payment_type: str,
    status: str,
    gateway_state: str,
    ids: Sequence[int] | None = None,
) -> list[int]:
    """A payment run's Processing electronic payments, each holding its invoice-level
    intention (its whole amount to its one invoice) on its row (``pending_invoice_id``:
    no intention row), given as parallel columns ``(account_ids, numbers, amounts_minor,
    currencies, payment_method_ids, gateway_ids, comments, attempt_keys, invoice_ids)``
    (``gateway_order_id`` = the number): ONE JSON array zipped from them, read by one
    ``INSERT ... SELECT``; ids allocated first in a block (:func:`insert_rows`'s rule: the
    caller holds SQLite's write lock) unless given (``ids``: a slice in flight's, written
    by its recovery); their ids in order.

    Tenant: every row is written under ``tenant_id``."""
    count = len(columns[0]) if columns else 0
    if not count:
        return []
    if ids is None:
        ids = allocate_payment_ids(session, count)
    statement, params, rows = _run_payment_columns(is_postgres(session), ids, columns)
    params.update(
        t=tenant_id,
        day=day,
        now=now,
        payment_type=payment_type,
        status=status,
        state=gateway_state,
        source=attempt_source,
        rows=json_text(rows),
    )
    session.execute(
        text(statement).bindparams(
            bindparam("day", type_=Date), bindparam("now", type_=UtcDateTime)
        ),
        params,
    )
    return list(ids)


# A payment run's slice's payments written once, at its finish, with their outcomes
# (``insert_run_payments_settled``): ``_RUN_PAYMENTS`` with the answer's columns (status,
# gateway state and words, transaction id, decline category) from the same JSON rows
# (or parameters, when one value serves the whole slice). Settled at ``:now`` when
# Processed; an answer still pending keeps the payment Processing holding its invoice.
_RUN_PAYMENTS_SETTLED = """
{with}
INSERT INTO payments (id, tenant_id, account_id, number, amount_minor, currency,
    effective_date, payment_type, status, payment_method_id, gateway_id, gateway_order_id,
    gateway_state, gateway_response, gateway_response_code, gateway_transaction_id,
    decline_category, comment, submitted_at, created_at, updated_at, settled_at,
    attempt_key, attempt_source, pending_invoice_id)
SELECT {id}, :t, {account}, {number}, {amount}, {currency}, :day, :payment_type, {status},
       {method}, {gateway}, {number}, {state}, {message}, {code}, {transaction},
       {category}, {comment}, :at, :at, :now,
       CASE WHEN {status} = :processed THEN :now END, {key}, :source,
       CASE WHEN {status} = :processing THEN {invoice} END
FROM {rows}
"""
_RUN_OUTCOME_COLUMNS = (
    ("status", "VARCHAR", False),
    ("state", "VARCHAR", False),
    ("message", "VARCHAR", False),
    ("code", "VARCHAR", False),
    ("transaction", "VARCHAR", False),
    ("category", "VARCHAR", False),
)


def insert_run_payments_settled(
    session: Session,
    tenant_id: int,
    ids: Sequence[int],
    columns: Sequence[Sequence[Any]],
    *,
    attempt_source: str,
    day: date,
    at: datetime,
    now: datetime,
    payment_type: str,
    processed: str,
    processing: str,
) -> None:
    """A payment run's slice's electronic payments written once, with their outcomes:
    :func:`insert_run_payment_columns`' nine columns followed by (statuses, gateway
    states, gateway responses, response codes, transaction ids, decline categories), the
    ids the slice's begin allocated (its slice in flight held them), submitted and
    created ``at`` the begin, updated (and, those ``processed``, settled) ``now``; one
    still ``processing`` holds its invoice (``pending_invoice_id``), as one written at the
    begin and left Processing by its answer did.

    Tenant: every row is written under ``tenant_id``."""
    if not ids:
        return
    statement, params, rows = _run_payment_columns(
        is_postgres(session),
        ids,
        columns,
        spec=_RUN_PAYMENT_COLUMNS + _RUN_OUTCOME_COLUMNS,
        template=_RUN_PAYMENTS_SETTLED,
    )
    params.update(
        t=tenant_id,
        day=day,
        at=at,
        now=now,
        payment_type=payment_type,
        processed=processed,
        processing=processing,
        source=attempt_source,
        rows=json_text(rows),
    )
    session.execute(
        text(statement).bindparams(
            bindparam("day", type_=Date),
            bindparam("at", type_=UtcDateTime),
            bindparam("now", type_=UtcDateTime),
        ),
        params,
    )


def _run_payment_columns(
    postgres: bool,
    ids: Sequence[int],
    columns: Sequence[Sequence[Any]],
    *,
    spec: Sequence[tuple[str, str, bool]] | None = None,
    template: str = "",
) -> tuple[str, dict[str, Any], list[tuple[Any, ...]]]:
    """``_RUN_PAYMENTS``'s text, its per-slice parameters and its JSON rows, carrying in
    the rows only what differs from one payment to another. Every JSON column costs a
    payment its share of the array's text and, on SQLite, a ``json_extract`` of the
    row's text (~0.3 µs each, the step that read all ten took ~3.5 µs a payment): so a
    column with one value for the whole slice (the currency, the gateway, no comment) is
    a parameter, ids allocated in one run (always so on SQLite) are the first id plus
    the row's place, and attempt keys that are the payments' numbers (all but a re-sent
    gatewayOrderId's) are read from the number. The rows written are the same."""
    params: dict[str, Any] = {}
    parts: dict[str, str] = {}
    varying: list[Sequence[Any]] = []
    keys_are_numbers = list(columns[7]) == list(columns[1])
    spec = spec or _RUN_PAYMENT_COLUMNS
    for (name, sql_type, integer), values in zip(spec, columns, strict=True):
        if name == "key" and keys_are_numbers:
            continue
        first = values[0]
        if name not in _ALWAYS_VARYING and list(values).count(first) == len(values):
            params[name] = first
            parts[name] = f"CAST(:{name} AS {sql_type})"
            continue
        place = len(varying)
        varying.append(values)
        parts[name] = (
            (f"(j.e->>{place})::bigint" if integer else f"(j.e->>{place})")
            if postgres
            else f"j.c{place}"
        )
    if keys_are_numbers:
        parts["key"] = parts["number"]
    if list(ids) == list(range(ids[0], ids[0] + len(ids))):
        params["first_id"] = ids[0]
        # PostgreSQL's ordinality counts from 1, SQLite's json_each key from 0.
        parts["id"] = "(:first_id + j.n - 1)" if postgres else "(:first_id + j.key)"
    else:
        place = len(varying)
        varying.append(ids)
        parts["id"] = f"(j.e->>{place})::bigint" if postgres else f"j.c{place}"
    if postgres:
        parts["with"] = ""
        parts["rows"] = PG_JSON_ROWS_NUMBERED
    else:
        extracts = "".join(f", json_extract(value, '$[{i}]') AS c{i}" for i in range(len(varying)))
        parts["with"] = _ONCE.format(materialized=SQLITE_MATERIALIZED, columns=extracts)
        parts["rows"] = "j"
    return (template or _RUN_PAYMENTS).format(**parts), params, list(zip(*varying, strict=True))


# Never one value for a whole slice: each payment its own (checking them costs more).
_ALWAYS_VARYING = frozenset({"account", "number", "amount", "invoice"})


def account_facts(session: Session, tenant_id: int, account_ids: Sequence[int]) -> dict[int, Any]:
    """What charging needs of each account (id, currency, payment gateway id), as plain
    rows in one query per 500: a payment run's chunk reads hundreds."""
    found: dict[int, Any] = {}
    ordered = sorted(set(account_ids))
    for start in range(0, len(ordered), 500):
        for row in session.execute(
            select(Account.id, Account.currency, Account.payment_gateway_id).where(
                Account.tenant_id == tenant_id, Account.id.in_(ordered[start : start + 500])
            )
        ):
            found[int(row.id)] = row
    return found


def get_payment(session: Session, tenant_id: int, payment_id: int) -> Payment | None:
    return session.scalars(
        select(Payment).where(
            Payment.tenant_id == tenant_id,
            Payment.id == payment_id,
            Payment.deleted_at.is_(None),
        )
    ).first()


def payments_by_id(session: Session, tenant_id: int, payment_ids: Sequence[int]) -> list[Payment]:
    """The tenant's payments among ``payment_ids`` (deleted ones too), in id order."""
    found: list[Payment] = []
    ordered = sorted(set(payment_ids))
    for start in range(0, len(ordered), 500):
        found.extend(
            session.scalars(
                select(Payment)
                .where(Payment.tenant_id == tenant_id, Payment.id.in_(ordered[start : start + 500]))
                .order_by(Payment.id)
            )
        )
    return found


def find_payment_by_number(session: Session, tenant_id: int, number: str) -> Payment | None:
    return session.scalars(
        select(Payment).where(
            Payment.tenant_id == tenant_id,
            Payment.number == number,
            Payment.deleted_at.is_(None),
        )
    ).first()


def lock_payment(session: Session, tenant_id: int, payment_id: int) -> Payment | None:
    """The payment's committed row under its lock, held until the unit of work ends.

    PostgreSQL: ``SELECT ... FOR UPDATE``. SQLite has one writer: a no-op write takes the
    database's write lock first, so what is read next is the latest committed state.
    """
    if not is_postgres(session):
        session.execute(
            update(Payment)
            .where(Payment.tenant_id == tenant_id, Payment.id == payment_id)
            .values(updated_at=Payment.updated_at)
            .execution_options(synchronize_session=False)
        )
    return session.scalars(
        select(Payment)
        .where(
            Payment.tenant_id == tenant_id,
            Payment.id == payment_id,
            Payment.deleted_at.is_(None),
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


_LOCKED_COLUMNS = (
    Payment.id,
    Payment.account_id,
    Payment.number,
    Payment.amount_minor,
    Payment.currency,
    Payment.effective_date,
    Payment.status,
    Payment.payment_method_id,
    Payment.gateway_transaction_id,
)


def lock_payment_rows(session: Session, tenant_id: int, payment_ids: Sequence[int]) -> list[Any]:
    """Many payments' committed rows under their locks, taken in id order (the order
    every finisher locks in, so two never deadlock), as plain rows of the columns
    settling needs (no ORM object); as :func:`lock_payment` for a batch."""
    ordered = sorted(set(payment_ids))
    if not ordered:
        return []
    if not is_postgres(session):
        session.execute(
            update(Payment)
            .where(Payment.tenant_id == tenant_id, Payment.id == ordered[0])
            .values(updated_at=Payment.updated_at)
            .execution_options(synchronize_session=False)
        )
    found: list[Any] = []
    for start in range(0, len(ordered), 500):
        found.extend(
            session.execute(
                select(*_LOCKED_COLUMNS)
                .where(
                    # ``+ 0``: by primary key, not a tenant index (SQLite otherwise may
                    # walk every payment of the tenant for each batch).
                    Payment.tenant_id + 0 == tenant_id,
                    Payment.id.in_(ordered[start : start + 500]),
                    Payment.deleted_at.is_(None),
                )
                .order_by(Payment.id)
                .with_for_update()
            ).all()
        )
    return found


# Many payments settled from ONE JSON parameter (an array of
# [id, gateway_response, gateway_response_code, gateway_transaction_id]): one statement
# and no parameter processing per row, whatever the batch's size.
_SETTLE_SQLITE = """
UPDATE payments SET status = :status, gateway_state = :state,
    gateway_response = json_extract(j.value, '$[1]'),
    gateway_response_code = json_extract(j.value, '$[2]'),
    gateway_transaction_id = json_extract(j.value, '$[3]'),
    updated_at = :now, settled_at = :now
FROM json_each(:rows) j
WHERE payments.id = json_extract(j.value, '$[0]') AND payments.tenant_id + 0 = :t
"""
_SETTLE_POSTGRES = """
UPDATE payments SET status = :status, gateway_state = :state,
    gateway_response = j.e->>1, gateway_response_code = j.e->>2,
    gateway_transaction_id = j.e->>3, updated_at = :now, settled_at = :now
FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS j(e)
WHERE payments.id = (j.e->>0)::bigint AND payments.tenant_id = :t
"""


def settle_rows(
    session: Session,
    tenant_id: int,
    rows: Sequence[tuple[int, str | None, str | None, str | None]],
    *,
    status: str,
    gateway_state: str,
    now: datetime,
) -> None:
    """Many Processing payments settled to ``status`` / ``gateway_state`` at ``now`` in
    ONE ``UPDATE ... FROM`` a JSON array of ``(id, gateway_response,
    gateway_response_code, gateway_transaction_id)``. The caller holds the payments'
    locks (:func:`lock_payment_rows`) and checked they are Processing.

    Tenant: only payments of ``tenant_id`` move.
    """
    if not rows:
        return
    statement = text(_SETTLE_POSTGRES if is_postgres(session) else _SETTLE_SQLITE).bindparams(
        bindparam("now", type_=UtcDateTime)
    )
    session.execute(
        statement,
        {
            "status": status,
            "state": gateway_state,
            "now": now,
            "t": tenant_id,
            "rows": json_text([list(row) for row in rows]),
        },
    )


def account_payments(session: Session, tenant_id: int, account_id: int) -> list[Payment]:
    return list(
        session.scalars(
            select(Payment)
            .where(
                Payment.tenant_id == tenant_id,
                Payment.account_id == account_id,
                Payment.deleted_at.is_(None),
            )
            .order_by(Payment.id)
        )
    )


def get_refund(session: Session, tenant_id: int, refund_id: int) -> Refund | None:
    return session.scalars(
        select(Refund).where(Refund.tenant_id == tenant_id, Refund.id == refund_id)
    ).first()


def refunds_of(session: Session, tenant_id: int, payment_id: int) -> list[Refund]:
    return list(
        session.scalars(
            select(Refund)
            .where(Refund.tenant_id == tenant_id, Refund.payment_id == payment_id)
            .order_by(Refund.id)
        )
    )


def page_of_payments(
    session: Session,
    tenant_id: int,
    *,
    account_id: int | None,
    status: str | None,
    offset: int,
    limit: int,
) -> list[Payment]:
    """A page of the tenant's payments, newest first (Zuora's list order), filtered."""
    stmt = select(Payment).where(Payment.tenant_id == tenant_id, Payment.deleted_at.is_(None))
    if account_id is not None:
        stmt = stmt.where(Payment.account_id == account_id)
    if status is not None:
        stmt = stmt.where(Payment.status == status)
    return list(session.scalars(stmt.order_by(Payment.id.desc()).offset(offset).limit(limit)))


def find_refund_by_number(session: Session, tenant_id: int, number: str) -> Refund | None:
    return session.scalars(
        select(Refund).where(Refund.tenant_id == tenant_id, Refund.number == number)
    ).first()


def delete_refund(session: Session, tenant_id: int, refund_id: int) -> None:
    """Remove a refund's row. Its ledger entries (the refund and its cancellation, which
    net to zero) stay and keep naming it by number."""
    session.execute(delete(Refund).where(Refund.tenant_id == tenant_id, Refund.id == refund_id))
    session.flush()


# -- lists: filters, sort and paging in one statement ------------------------------------

F = TypeVar("F", PaymentSortField, RefundSortField)


def _payment_sum(tenant_id: int, entry_type: EntryType) -> ColumnElement[Any]:
    """The net of the outer payment's ledger entries of one type (a correlated subquery)."""
    return (
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
        .where(
            LedgerEntry.tenant_id == tenant_id,
            LedgerEntry.payment_id == Payment.id,
            LedgerEntry.entry_type == entry_type.value,
        )
        .correlate(Payment)
        .scalar_subquery()
    )


def _payment_amounts(tenant_id: int) -> dict[str, ColumnElement[Any]]:
    """The derived amounts of ``payments.views`` as SQL over the outer payment row."""
    applied = _payment_sum(tenant_id, EntryType.PAYMENT)
    refunded = -_payment_sum(tenant_id, EntryType.REFUND)
    unapplied = Payment.amount_minor - applied - refunded
    # Zuora's creditBalanceAmount: 0 for every payment under Invoice Settlement
    # (``PaymentView.credit_balance_minor``), so its filter matches 0 and nothing else.
    credit = literal(0, Integer)
    return {"applied": applied, "refunded": refunded, "unapplied": unapplied, "credit": credit}


def _currencies(session: Session, model: type[Payment] | type[Refund], tenant_id: int) -> list[str]:
    return list(
        session.scalars(select(model.currency).where(model.tenant_id == tenant_id).distinct())
    )


def _amount_is(
    column: Any,
    currency: Any,
    amount: Decimal,
    currencies: Sequence[str],
) -> ColumnElement[bool]:
    """``column`` (minor units) equals ``amount`` in the row's currency; a currency whose
    minor unit cannot write the amount matches nothing."""
    terms: list[ColumnElement[bool]] = []
    for code in currencies:
        try:
            minor = to_minor(amount, code)
        except InvalidValue:
            continue
        terms.append(and_(currency == code, column == minor))
    return or_(*terms) if terms else false()


def _in_span(column: Any, span: Span) -> ColumnElement[bool]:
    return and_(column >= span.start, column < span.end)


def page_of_payment_rows(session: Session, tenant_id: int, query: PaymentQuery) -> list[Payment]:
    """One page of the tenant's payments as ``query`` filters and sorts them."""
    if query.nothing:
        return []
    amounts = _payment_amounts(tenant_id)
    stmt = select(Payment).where(Payment.tenant_id == tenant_id, Payment.deleted_at.is_(None))
    equal: list[tuple[Any, Any]] = [
        (Payment.account_id, query.account_id),
        (Payment.number, query.number),
        (Payment.currency, query.currency),
        (Payment.status, query.status.value if query.status else None),
        (Payment.payment_type, query.payment_type.value if query.payment_type else None),
        (Payment.effective_date, query.effective_date),
    ]
    for column, value in equal:
        if value is not None:
            stmt = stmt.where(column == value)
    wanted: list[tuple[Any, Decimal | None]] = [
        (Payment.amount_minor, query.amount),
        (amounts["applied"], query.applied_amount),
        (amounts["unapplied"], query.unapplied_amount),
        (amounts["refunded"], query.refund_amount),
        (amounts["credit"], query.credit_balance_amount),
    ]
    if any(value is not None for _, value in wanted):
        currencies = (
            [query.currency] if query.currency else _currencies(session, Payment, tenant_id)
        )
        for column, value in wanted:
            if value is not None:
                stmt = stmt.where(_amount_is(column, Payment.currency, value, currencies))
    if query.created is not None:
        stmt = stmt.where(_in_span(Payment.created_at, query.created))
    if query.updated is not None:
        stmt = stmt.where(_in_span(Payment.updated_at, query.updated))
    columns: dict[PaymentSortField, Any] = {
        PaymentSortField.NUMBER: Payment.number,
        PaymentSortField.ACCOUNT_ID: Payment.account_id,
        PaymentSortField.AMOUNT: Payment.amount_minor,
        PaymentSortField.APPLIED_AMOUNT: amounts["applied"],
        PaymentSortField.UNAPPLIED_AMOUNT: amounts["unapplied"],
        PaymentSortField.REFUND_AMOUNT: amounts["refunded"],
        # The same for every payment: skipped, as the user-id fields are.
        PaymentSortField.CREDIT_BALANCE_AMOUNT: None,
        PaymentSortField.EFFECTIVE_DATE: Payment.effective_date,
        PaymentSortField.CREATED_DATE: Payment.created_at,
        PaymentSortField.CREATED_BY_ID: None,
        PaymentSortField.UPDATED_DATE: Payment.updated_at,
        PaymentSortField.UPDATED_BY_ID: None,
    }
    order = _order(columns, query.sort, PaymentSortField.NUMBER, Payment.id)
    return list(session.scalars(stmt.order_by(*order).offset(query.offset).limit(query.limit)))


def page_of_refund_rows(session: Session, tenant_id: int, query: RefundQuery) -> list[Refund]:
    """One page of the tenant's refunds as ``query`` filters and sorts them."""
    if query.nothing:
        return []
    stmt = select(Refund).where(Refund.tenant_id == tenant_id)
    equal: list[tuple[Any, Any]] = [
        (Refund.account_id, query.account_id),
        (Refund.payment_id, query.payment_id),
        (Refund.number, query.number),
        (Refund.status, query.status.value if query.status else None),
        (Refund.refund_type, query.refund_type.value if query.refund_type else None),
        (Refund.method_type, query.method_type.value if query.method_type else None),
        (Refund.refund_date, query.refund_date),
    ]
    for column, value in equal:
        if value is not None:
            stmt = stmt.where(column == value)
    if query.amount is not None:
        currencies = _currencies(session, Refund, tenant_id)
        stmt = stmt.where(
            _amount_is(Refund.amount_minor, Refund.currency, query.amount, currencies)
        )
    if query.created is not None:
        stmt = stmt.where(_in_span(Refund.created_at, query.created))
    if query.updated is not None:
        stmt = stmt.where(_in_span(Refund.updated_at, query.updated))
    columns: dict[RefundSortField, Any] = {
        RefundSortField.NUMBER: Refund.number,
        RefundSortField.ACCOUNT_ID: Refund.account_id,
        RefundSortField.AMOUNT: Refund.amount_minor,
        RefundSortField.REFUND_DATE: Refund.refund_date,
        RefundSortField.PAYMENT_ID: Refund.payment_id,
        RefundSortField.CREATED_DATE: Refund.created_at,
        RefundSortField.CREATED_BY_ID: None,
        RefundSortField.UPDATED_DATE: Refund.updated_at,
        RefundSortField.UPDATED_BY_ID: None,
    }
    order = _order(columns, query.sort, RefundSortField.NUMBER, Refund.id)
    return list(session.scalars(stmt.order_by(*order).offset(query.offset).limit(query.limit)))


def _order(
    columns: dict[F, Any],
    sort: Sequence[tuple[F, bool]],
    default: F,
    tie_break: Any,
) -> list[Any]:
    """ORDER BY terms: the asked fields (those billcycle has), else the default
    descending; the id last, in the direction of the first term, so pages never overlap."""
    terms = list(sort) or [(default, True)]
    order: list[Any] = []
    for field, descending in terms:
        column = columns[field]
        if column is not None:
            order.append(column.desc() if descending else column.asc())
    first_descending = terms[0][1]
    order.append(tie_break.desc() if first_descending else tie_break.asc())
    return order


def payment_numbers(session: Session, tenant_id: int, payment_ids: Sequence[int]) -> dict[int, str]:
    """Numbers of the payments asked for, deleted ones included (a refund keeps naming its
    payment after the payment was deleted)."""
    if not payment_ids:
        return {}
    rows = session.execute(
        select(Payment.id, Payment.number).where(
            Payment.tenant_id == tenant_id, Payment.id.in_(sorted(set(payment_ids)))
        )
    )
    return {int(row[0]): str(row[1]) for row in rows}


# -- settling a staged set of gateway answers (a payment run's slice) ---------------------
#
# Every statement reads the same JSON array of staged answers, one per payment:
# [payment_id, kind, gateway_response, gateway_response_code, gateway_transaction_id,
#  decline_category, gateway_state, invoice_id, source], kind "A" approved (Processed,
# its money received and applied), "F" failed (Error, nothing moves), "P" still pending
# (Processing; the answer's words kept). {c0}.. are its columns (``_json_columns``).
_STAGED_INTEGERS = (0, 7)

_STAGED_LOCK_SQLITE = """
SELECT p.id FROM payments p
WHERE p.id IN (SELECT value FROM json_each(:rows))
  AND p.tenant_id + 0 = :t AND p.status = :processing AND p.deleted_at IS NULL
ORDER BY p.id
"""
# PostgreSQL: each payment looked up by primary key from the JSON rows (ids ascending)
# and locked there, in that order: a subquery with FOR UPDATE (and OFFSET 0: nothing is
# pushed into it) is never pulled up, so the JSON rows drive a nested loop, and with
# only ``id`` indexable in it the primary key is the one index it can use. Its status is
# tested after the lock (on the row as it is then, as FOR UPDATE's recheck did). With
# ``p.id IN (...) AND p.status = 'Processing'`` in one step the planner took
# ix_payments_processing (partial on that status; without vacuum its dead entries are
# every payment the run has settled) and scanned it for each JSON row: ~0.6 s a slice at
# 100,000 payments.
_STAGED_LOCKED_POSTGRES = """
FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS j(e)
CROSS JOIN LATERAL (
    SELECT p.id, p.status, p.deleted_at FROM payments p
    WHERE p.id = (j.e->>0)::bigint AND p.tenant_id + 0 = :t
    OFFSET 0
    FOR UPDATE
) x
WHERE x.status = :processing AND x.deleted_at IS NULL
"""
_STAGED_LOCK_POSTGRES = "SELECT x.id " + _STAGED_LOCKED_POSTGRES
# The same, counted (PostgreSQL: the rows locked in the same order).
_STAGED_COUNT_SQLITE = """
SELECT COUNT(*) FROM payments p
WHERE p.id IN (SELECT value FROM json_each(:rows))
  AND p.tenant_id + 0 = :t AND p.status = :processing AND p.deleted_at IS NULL
"""
_STAGED_COUNT_POSTGRES = "SELECT COUNT(*) " + _STAGED_LOCKED_POSTGRES

# The money received on the account (entries on no invoice), then each approved
# payment's one invoice-level intention (a row, or held on the payment:
# ``pending_invoice_id``) applied as far as the invoice still owes (its balance read now:
# the ledger summed on the invoice's index) and the payment allows.
_STAGED_RECEIVED = """
{with}
INSERT INTO ledger_entries (tenant_id, account_id, invoice_id, payment_id, entry_type,
    amount_minor, currency, effective_date, reference, source, invoice_item_id, comment,
    created_at)
SELECT p.tenant_id, p.account_id, NULL, p.id, :received, p.amount_minor, p.currency,
       p.effective_date, p.number, {c8}, NULL, NULL, :now
FROM {rows} JOIN payments p ON p.id = {c0}
WHERE {c1} = 'A' AND p.tenant_id {plus} = :t
ORDER BY p.id
"""
_STAGED_APPLIED = """
{with}
INSERT INTO ledger_entries (tenant_id, account_id, invoice_id, payment_id, entry_type,
    amount_minor, currency, effective_date, reference, source, invoice_item_id, comment,
    created_at)
SELECT tenant_id, account_id, invoice_id, payment_id, :applied, amount_minor, currency,
       effective_date, reference, source, NULL, NULL, :now
FROM (
    SELECT p.tenant_id, i.account_id, i.id AS invoice_id, p.id AS payment_id,
           {least}(COALESCE(pa.amount_minor, p.amount_minor), p.amount_minor,
                   i.amount_minor - COALESCE((
               SELECT SUM(l.amount_minor) FROM ledger_entries l
               WHERE l.invoice_id = i.id AND l.tenant_id = :t), 0)) AS amount_minor,
           p.currency, {greatest}(:today, p.effective_date, i.invoice_date) AS effective_date,
           p.number AS reference, {c8} AS source
    FROM {rows}
    JOIN payments p ON p.id = {c0}
    LEFT JOIN payment_pending_applications pa
      ON pa.tenant_id = :t AND pa.payment_id = p.id AND pa.invoice_id = {c7}
     AND pa.invoice_item_id IS NULL
    JOIN invoices i ON i.id = {c7} AND i.tenant_id {plus} = :t AND i.status = :posted
    WHERE {c1} = 'A' AND p.tenant_id {plus} = :t
      AND (pa.id IS NOT NULL OR p.pending_invoice_id = {c7})
) s
WHERE amount_minor > 0
ORDER BY payment_id
RETURNING invoice_id, amount_minor
"""
_STAGED_PAYMENTS = """
{with}
UPDATE payments SET
    status = CASE {c1} WHEN 'A' THEN :processed WHEN 'F' THEN :error ELSE payments.status END,
    gateway_state = COALESCE({c6}, payments.gateway_state),
    gateway_response = {c2},
    gateway_response_code = {c3},
    gateway_transaction_id = COALESCE({c4}, payments.gateway_transaction_id),
    decline_category = CASE WHEN {c1} = 'F' AND {c5} IS NOT NULL THEN {c5}
                            ELSE payments.decline_category END,
    settled_at = CASE {c1} WHEN 'A' THEN :now ELSE payments.settled_at END,
    pending_invoice_id = CASE WHEN {c1} IN ('A', 'F') THEN NULL
                              ELSE payments.pending_invoice_id END,
    updated_at = :now
FROM {rows}
WHERE payments.id = {c0} AND payments.tenant_id {plus} = :t
"""
# The same two entries of a payment run's slice (``settle_staged(intention_rows=False)``):
# each payment holds its one intention on its own row (``pending_invoice_id``, the invoice
# the slice charged it for, written with the payment and cleared only when it settles;
# the caller locked it and found it Processing) and has no intention row. The approved
# payments' ids are a flat JSON array (SQLite: ``json_each``'s ``value``, no
# ``json_extract``: SQLite 3.40 parses a row's array again at every one, ~0.6 µs each, more
# than the rest of a received entry's row), everything else read from the payment's row.
_HELD_RECEIVED = """
INSERT INTO ledger_entries (tenant_id, account_id, invoice_id, payment_id, entry_type,
    amount_minor, currency, effective_date, reference, source, invoice_item_id, comment,
    created_at)
SELECT p.tenant_id, p.account_id, NULL, p.id, :received, p.amount_minor, p.currency,
       p.effective_date, p.number, :source, NULL, NULL, :now
FROM {ids} JOIN payments p ON p.id = {id}
WHERE p.tenant_id + 0 = :t
{order}
"""
_BY_PAYMENT = "ORDER BY p.id"
# The invoice's balance is summed once a payment: in a subquery the amount is named twice
# (the value and ``> 0``) and both databases inline it, summing the invoice's entries
# twice; a ``MATERIALIZED`` step is computed once.
_HELD_APPLIED = """
WITH s AS {materialized} (
    SELECT p.tenant_id, i.account_id, i.id AS invoice_id, p.id AS payment_id,
           {least}(p.amount_minor, i.amount_minor - COALESCE((
               SELECT SUM(l.amount_minor) FROM ledger_entries l
               WHERE l.invoice_id = i.id AND l.tenant_id = :t), 0)) AS amount_minor,
           p.currency, {greatest}(:today, p.effective_date, i.invoice_date) AS effective_date,
           p.number AS reference
    FROM {ids}
    JOIN payments p ON p.id = {id}
    JOIN invoices i ON i.id = p.pending_invoice_id AND i.tenant_id + 0 = :t
     AND i.status = :posted
    WHERE p.tenant_id + 0 = :t
)
INSERT INTO ledger_entries (tenant_id, account_id, invoice_id, payment_id, entry_type,
    amount_minor, currency, effective_date, reference, source, invoice_item_id, comment,
    created_at)
SELECT tenant_id, account_id, invoice_id, payment_id, :applied, amount_minor, currency,
       effective_date, reference, :source, NULL, NULL, :now
FROM s
WHERE amount_minor > 0
ORDER BY payment_id
RETURNING invoice_id, amount_minor
"""
# The applied entries of a slice's payments written with their outcomes
# (``run_slice_entries``): as ``_HELD_APPLIED``, the invoice each pays given beside its
# payment (the slice's own columns) rather than read from ``pending_invoice_id``, which a
# payment written Processed never holds. ``{pairs}`` gives each approved payment's
# ``{payment}`` and ``{invoice}``: SQLite, a flat array of the slice's invoices in id
# order (0 for those not approved: no invoice joins) with the ids one block, each
# payment the first id plus its place (no ``json_extract``); otherwise an array of
# [payment, invoice] pairs.
_RUN_APPLIED = """
WITH s AS {materialized} (
    SELECT p.tenant_id, i.account_id, i.id AS invoice_id, p.id AS payment_id,
           {least}(p.amount_minor, i.amount_minor - COALESCE((
               SELECT SUM(l.amount_minor) FROM ledger_entries l
               WHERE l.invoice_id = i.id AND l.tenant_id = :t), 0)) AS amount_minor,
           p.currency, {greatest}(:today, p.effective_date, i.invoice_date) AS effective_date,
           p.number AS reference
    FROM {pairs}
    JOIN payments p ON p.id = {payment}
    JOIN invoices i ON i.id = {invoice} AND i.tenant_id + 0 = :t
     AND i.status = :posted
    WHERE p.tenant_id + 0 = :t
)
INSERT INTO ledger_entries (tenant_id, account_id, invoice_id, payment_id, entry_type,
    amount_minor, currency, effective_date, reference, source, invoice_item_id, comment,
    created_at)
SELECT tenant_id, account_id, invoice_id, payment_id, :applied, amount_minor, currency,
       effective_date, reference, :source, NULL, NULL, :now
FROM s
WHERE amount_minor > 0
{order}
{returning}
"""
_RUN_APPLIED_ORDERED = {
    "order": "ORDER BY payment_id",
    "returning": "RETURNING invoice_id, amount_minor",
}
# SQLite, a slice's payments one block of ids in order (``_PAIRS_FLAT_SQLITE``): the
# entries are written as the JSON rows come, which is payment id order already (a
# ``ORDER BY`` sorted them again, ~0.5 µs a payment), and not returned (each returned row
# was ~0.4 µs): what was applied is checked by ``_RUN_APPLIED_SINCE`` instead.
_RUN_APPLIED_AS_READ = {"order": "", "returning": ""}
# The applications just written: each has an id above the ledger's largest before them
# (SQLite gives a new row the largest rowid plus one; the caller holds the write lock).
_RUN_APPLIED_SINCE = (
    "SELECT COUNT(*), COALESCE(SUM(amount_minor), 0) FROM ledger_entries WHERE id > :mark"
)
_RUN_APPLIED_READ = (
    "SELECT invoice_id, amount_minor FROM ledger_entries WHERE id > :mark ORDER BY id"
)
_LEDGER_MARK = "SELECT COALESCE(MAX(id), 0) FROM ledger_entries"
_PAIRS_FLAT_SQLITE = {
    "pairs": "json_each(:pairs) j",
    "payment": "(:first + j.key)",
    "invoice": "j.value",
}
_PAIRS_SQLITE = {
    "pairs": "json_each(:pairs) j",
    "payment": "json_extract(j.value, '$[0]')",
    "invoice": "json_extract(j.value, '$[1]')",
}
_PAIRS_POSTGRES = {
    "pairs": "jsonb_array_elements(CAST(:pairs AS jsonb)) AS j(e)",
    "payment": "(j.e->>0)::bigint",
    "invoice": "(j.e->>1)::bigint",
}


def run_slice_entries(
    session: Session,
    tenant_id: int,
    ids: Sequence[int],
    invoices: Sequence[int],
    approved: Sequence[bool],
    *,
    source: str,
    now: datetime,
    today: date,
    posted: str,
    amounts: Sequence[int] | None = None,
) -> list[tuple[int, int]]:
    """The ledger entries of a payment run's slice's approved payments, just written
    with their outcomes (:func:`insert_run_payments_settled`): the money received on
    the account (``_HELD_RECEIVED``, from the payments' rows), then each applied to its
    invoice (``invoices[i]`` the one payment ``ids[i]`` pays; ``approved[i]``: it was)
    as far as the invoice still owes (``_RUN_APPLIED``: its balance summed now, under
    the invoice's lock) and the payment allows. Returns (invoice id, amount) of each
    application, for the AR summaries.

    ``amounts``: each payment's amount (``amounts[i]`` of ``ids[i]``). SQLite, ids one
    block: the applications are then not read back; their count and total are (each is
    at most its payment's amount, so the same count and total mean each is exactly its
    payment's amount: the usual case) and the list is made of ``invoices`` and
    ``amounts``; otherwise they are read.

    Tenant: every statement is scoped to ``tenant_id``."""
    paid = [payment_id for payment_id, yes in zip(ids, approved, strict=True) if yes]
    if not paid:
        return []
    postgres = is_postgres(session)
    words = {
        "least": "LEAST" if postgres else "MIN",
        "greatest": "GREATEST" if postgres else "MAX",
    }
    params: dict[str, Any] = {
        "t": tenant_id,
        "now": now,
        "today": today,
        "posted": posted,
        "source": source,
        "applied": EntryType.PAYMENT.value,
    }
    ordered = sorted(ids)
    flat = not postgres and list(ids) == list(range(ordered[0], ordered[0] + len(ordered)))
    id_rows = _ID_ROWS_POSTGRES if postgres else _ID_ROWS_SQLITE
    session.execute(
        text(_HELD_RECEIVED.format(**id_rows, order="" if flat else _BY_PAYMENT)).bindparams(
            bindparam("now", type_=UtcDateTime)
        ),
        {
            "ids": json_text(paid),
            "t": tenant_id,
            "now": now,
            "source": source,
            "received": EntryType.PAYMENT_RECEIVED.value,
        },
    )
    if flat:
        pairs = _PAIRS_FLAT_SQLITE
        params["first"] = ordered[0]
        params["pairs"] = json_text(
            [invoice if yes else 0 for invoice, yes in zip(invoices, approved, strict=True)]
        )
    else:
        pairs = _PAIRS_POSTGRES if postgres else _PAIRS_SQLITE
        params["pairs"] = json_text(
            [
                [payment_id, invoice]
                for payment_id, invoice, yes in zip(ids, invoices, approved, strict=True)
                if yes
            ]
        )
    words.update(pairs, materialized=id_rows["materialized"])
    if not flat or amounts is None:
        statement = _RUN_APPLIED.format(**words, **_RUN_APPLIED_ORDERED)
        return _applications(
            session.execute(
                text(statement).bindparams(
                    bindparam("now", type_=UtcDateTime), bindparam("today", type_=Date)
                ),
                params,
            )
        )
    mark = int(session.execute(text(_LEDGER_MARK)).scalar_one())
    session.execute(
        text(_RUN_APPLIED.format(**words, **_RUN_APPLIED_AS_READ)).bindparams(
            bindparam("now", type_=UtcDateTime), bindparam("today", type_=Date)
        ),
        params,
    )
    wanted = [
        (invoice, amount)
        for invoice, amount, yes in zip(invoices, amounts, approved, strict=True)
        if yes
    ]
    count, total = session.execute(text(_RUN_APPLIED_SINCE), {"mark": mark}).one()
    if count == len(wanted) and total == sum(amount for _invoice, amount in wanted):
        return wanted
    # Some invoice owed less than its payment, or was no longer Posted: as written.
    return _applications(session.execute(text(_RUN_APPLIED_READ), {"mark": mark}))


def _applications(rows: Any) -> list[tuple[int, int]]:
    return [(int(invoice_id), int(amount)) for invoice_id, amount in rows.all()]


# A flat JSON array of ids as rows ``{ids}``, each ``{id}``.
_ID_ROWS_SQLITE = {"ids": "json_each(:ids) j", "id": "j.value", "materialized": SQLITE_MATERIALIZED}
_ID_ROWS_POSTGRES = {
    "ids": "jsonb_array_elements_text(CAST(:ids AS jsonb)) AS j(e)",
    "id": "j.e::bigint",
    "materialized": "MATERIALIZED",
}
_STAGED_FORGET = """
{with}
DELETE FROM payment_pending_applications
WHERE tenant_id = :t AND payment_id IN (SELECT {c0} FROM {rows} WHERE {c1} IN ('A', 'F'))
"""


def lock_staged(
    session: Session, tenant_id: int, payment_ids: Sequence[int], processing: str
) -> set[int]:
    """Those of ``payment_ids`` still ``processing``, under their locks (PostgreSQL:
    ``FOR UPDATE`` in id order, every finisher's order; SQLite: the caller holds the
    write lock). Counted first: when all are (a slice's usual case) no id is read back;
    otherwise the ids still Processing are read."""
    postgres = is_postgres(session)
    wanted = set(payment_ids)
    params = {
        # SQLite: a flat array (``json_each``'s value, no ``json_extract`` a row).
        "rows": json_text([[i] for i in sorted(wanted)] if postgres else sorted(wanted)),
        "t": tenant_id,
        "processing": processing,
    }
    counted = text(_STAGED_COUNT_POSTGRES if postgres else _STAGED_COUNT_SQLITE)
    if session.scalar(counted, params) == len(wanted):
        return wanted
    statement = text(_STAGED_LOCK_POSTGRES if postgres else _STAGED_LOCK_SQLITE)
    return {int(i) for i in session.execute(statement, params).scalars().all()}


def settle_staged(
    session: Session,
    tenant_id: int,
    staged: Sequence[Sequence[Any]],
    *,
    approved: bool,
    now: datetime,
    today: date,
    statuses: tuple[str, str],
    posted: str,
    intention_rows: bool = True,
    staged_json: str | None = None,
) -> list[tuple[int, int]]:
    """Record a staged set of gateway answers (``staged``: the rows of the JSON array
    the note above describes) on their payments, which the caller locked
    (:func:`lock_staged`) and found Processing: for the approved ones (``approved``:
    there are some) the received and applied ledger entries, then every payment's
    status and gateway words by ONE ``UPDATE ... FROM`` (which also forgets the
    intentions held on the settled payments' rows), and the settled ones' intention
    rows deleted (``intention_rows``: False when the caller knows its payments have none,
    a payment run's slice, whose payments hold theirs; ``staged_json``: ``staged`` as
    the JSON array already, when the caller reads it again). ``statuses``: (Processed,
    Error). Returns (invoice id, amount) of each application made, for the AR
    summaries. Without intention rows (and one entry source), the entries are written
    from the approved payments' ids and rows (``_HELD_RECEIVED``), the invoice the one
    each payment holds.

    Tenant: every statement is scoped to ``tenant_id``."""
    postgres = is_postgres(session)
    words = {
        "least": "LEAST" if postgres else "MIN",
        "greatest": "GREATEST" if postgres else "MAX",
        # Both databases: the rows by primary key from the JSON rows, never a tenant
        # index walked for each (PostgreSQL, its statistics behind a slice's fresh
        # payments, otherwise joined every payment of the tenant to every JSON row).
        "plus": "+ 0",
    }

    def statement(template: str) -> str:
        return template.format(**json_rows_once(postgres, template, _STAGED_INTEGERS), **words)

    rows = staged_json if staged_json is not None else json_text([list(row) for row in staged])
    params: dict[str, Any] = {"rows": rows, "t": tenant_id, "now": now}
    applied: list[tuple[int, int]] = []
    sources = {row[8] for row in staged if row[1] == "A"}
    if approved and not intention_rows and len(sources) == 1:
        # Each payment holds its one intention on its row (``_HELD_RECEIVED``).
        held = {
            "ids": json_text([row[0] for row in staged if row[1] == "A"]),
            "t": tenant_id,
            "now": now,
            "source": sources.pop(),
        }
        ids = _ID_ROWS_POSTGRES if postgres else _ID_ROWS_SQLITE
        session.execute(
            text(_HELD_RECEIVED.format(**ids, order=_BY_PAYMENT)).bindparams(
                bindparam("now", type_=UtcDateTime)
            ),
            {**held, "received": EntryType.PAYMENT_RECEIVED.value},
        )
        applied = [
            (int(invoice_id), int(amount))
            for invoice_id, amount in session.execute(
                text(_HELD_APPLIED.format(**ids, **words)).bindparams(
                    bindparam("now", type_=UtcDateTime), bindparam("today", type_=Date)
                ),
                {**held, "applied": EntryType.PAYMENT.value, "today": today, "posted": posted},
            ).all()
        ]
    elif approved:
        session.execute(
            text(statement(_STAGED_RECEIVED)).bindparams(bindparam("now", type_=UtcDateTime)),
            {**params, "received": EntryType.PAYMENT_RECEIVED.value},
        )
        applied = [
            (int(invoice_id), int(amount))
            for invoice_id, amount in session.execute(
                text(statement(_STAGED_APPLIED)).bindparams(
                    bindparam("now", type_=UtcDateTime), bindparam("today", type_=Date)
                ),
                {**params, "applied": EntryType.PAYMENT.value, "today": today, "posted": posted},
            ).all()
        ]
    session.execute(
        text(statement(_STAGED_PAYMENTS)).bindparams(bindparam("now", type_=UtcDateTime)),
        {**params, "processed": statuses[0], "error": statuses[1]},
    )
    if intention_rows:
        session.execute(text(statement(_STAGED_FORGET)), {"rows": rows, "t": tenant_id})
    return applied
