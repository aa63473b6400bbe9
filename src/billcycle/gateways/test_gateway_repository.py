"""All SQL of the test gateway's charge book. Each function runs in the test gateway's
own short transaction (never billcycle's unit of work): the book is the gateway's. On a
SQLite file the book is a database file of its own (``test_gateway.book_engine``), whose
one table :func:`create_book` makes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Column,
    Engine,
    ForeignKey,
    Index,
    MetaData,
    Table,
    UniqueConstraint,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billcycle.db.bulk import is_postgres, json_text
from billcycle.db.types import UtcDateTime
from billcycle.gateways.models import TestGatewayCharge
from billcycle.gateways.statuses import ChargeState, TransactionKind

# The book file's schema version (``PRAGMA user_version``): 1 is the table below. A
# change to ``test_gateway_charges`` that the book must follow raises it and says here
# how an older book file is brought up to it (Alembic manages the main database only).
BOOK_VERSION = 1


def _book_metadata() -> MetaData:
    """``test_gateway_charges`` as the book file holds it: the model's columns, unique
    key and partial index, without the foreign key to ``payment_gateways`` (a table of
    the main database: the book is the gateway's, as a remote gateway's records are)."""
    metadata = MetaData()
    source = cast(Table, TestGatewayCharge.__table__)
    columns = [
        Column(
            column.name,
            column.type,
            *(
                [ForeignKey("test_gateway_charges.id", ondelete="CASCADE")]
                if column.name == "parent_id"
                else []
            ),
            primary_key=column.primary_key,
            nullable=column.nullable,
        )
        for column in source.columns
    ]
    Table(
        source.name,
        metadata,
        *columns,
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index(
            "ix_test_gateway_charges_parent_id",
            "parent_id",
            sqlite_where=text("parent_id IS NOT NULL"),
        ),
    )
    return metadata


class BookOfAnotherDatabase(RuntimeError):
    """The book file beside billcycle's database was made for another database (one
    deleted or replaced since): its charges answer that database's payment keys."""


def database_mark(engine: Engine) -> int | None:
    """billcycle's SQLite file's mark (its header's ``application_id``, a random number
    its first migration sets: ``0043_lead_sqlite_database_mark``), which the book
    records as the database it serves (:func:`create_book`); None for a file without
    one. Read only: a copy of the file keeps its mark, as a copy of both files keeps
    them paired."""
    with engine.connect() as conn:
        mark = int(conn.exec_driver_sql("PRAGMA application_id").scalar() or 0)
    return mark or None


def create_book(engine: Engine, owner: int | None = None) -> None:
    """The book file's table, made when missing (idempotent: every process that opens
    the book runs it); a book of another schema version is refused, and (``owner``:
    the served database's :func:`database_mark`) so is a book made for another
    database (:class:`BookOfAnotherDatabase`; a book from before books were marked is
    taken over)."""
    with engine.begin() as conn:
        # One process makes it: the check and the CREATE under the book's write lock.
        raw = conn.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            raw.execute("BEGIN IMMEDIATE")
        version = int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
        if version not in (0, BOOK_VERSION):
            raise RuntimeError(
                f"The test gateway's book {engine.url.database} has schema version "
                f"{version}; this billcycle knows version {BOOK_VERSION}."
            )
        if owner is not None:
            found = int(conn.exec_driver_sql("PRAGMA application_id").scalar() or 0)
            if found and found != owner:
                raise BookOfAnotherDatabase(
                    f"The test gateway's book {engine.url.database} belongs to another "
                    "billcycle database."
                )
            if not found:
                conn.exec_driver_sql(f"PRAGMA application_id = {owner}")
        _book_metadata().create_all(conn, checkfirst=True)
        if version == 0:
            conn.exec_driver_sql(f"PRAGMA user_version = {BOOK_VERSION}")


def book_columns(engine: Engine) -> list[str]:
    """The book table's column names, as the database has them (for checks)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("PRAGMA table_info(test_gateway_charges)")
        return [str(row[1]) for row in rows]


def find_by_key(session: Session, tenant_id: int, key: str) -> TestGatewayCharge | None:
    return session.scalars(
        select(TestGatewayCharge).where(
            TestGatewayCharge.tenant_id == tenant_id, TestGatewayCharge.idempotency_key == key
        )
    ).first()


def find_by_id(session: Session, tenant_id: int, charge_id: int) -> TestGatewayCharge | None:
    return session.scalars(
        select(TestGatewayCharge).where(
            TestGatewayCharge.tenant_id == tenant_id, TestGatewayCharge.id == charge_id
        )
    ).first()


def find_by_keys(
    session: Session, tenant_id: int, keys: Sequence[str]
) -> dict[str, TestGatewayCharge]:
    """The transactions recorded under any of ``keys``, by key (one statement per 500)."""
    found: dict[str, TestGatewayCharge] = {}
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), 500):
        for row in session.scalars(
            select(TestGatewayCharge).where(
                TestGatewayCharge.tenant_id == tenant_id,
                TestGatewayCharge.idempotency_key.in_(ordered[start : start + 500]),
            )
        ):
            found[row.idempotency_key] = row
    return found


# Sales written as a set from ONE JSON parameter (an array of
# [key, state, amount_minor, currency, token, code, message]): no statement text or
# parameter processing per row; the ids of those written come back by key (a key
# already booked, by anyone, is skipped: the caller reads its entry).
_SALES_SQLITE = """
INSERT INTO test_gateway_charges (tenant_id, gateway_id, idempotency_key, kind, parent_id,
    state, amount_minor, currency, token, code, message, settles_at, created_at, updated_at)
SELECT :t, :g, json_extract(j.value, '$[0]'), :kind, NULL, json_extract(j.value, '$[1]'),
       json_extract(j.value, '$[2]'), json_extract(j.value, '$[3]'),
       json_extract(j.value, '$[4]'), json_extract(j.value, '$[5]'),
       json_extract(j.value, '$[6]'),
       CASE WHEN json_extract(j.value, '$[1]') = :pending THEN :settles END, :now, :now
FROM json_each(:rows) j
WHERE true
ORDER BY j.key
ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
RETURNING id, idempotency_key
"""
_SALES_POSTGRES = """
INSERT INTO test_gateway_charges (tenant_id, gateway_id, idempotency_key, kind, parent_id,
    state, amount_minor, currency, token, code, message, settles_at, created_at, updated_at)
SELECT :t, :g, j.e->>0, :kind, NULL, j.e->>1, (j.e->>2)::bigint, j.e->>3, j.e->>4,
       j.e->>5, j.e->>6, CASE WHEN j.e->>1 = :pending THEN :settles END, :now, :now
FROM jsonb_array_elements(CAST(:rows AS jsonb)) WITH ORDINALITY AS j(e, n)
ORDER BY j.n
{conflict}
RETURNING id, idempotency_key
"""
_SKIP_BOOKED = "ON CONFLICT (tenant_id, idempotency_key) DO NOTHING"


def insert_sales(
    session: Session,
    tenant_id: int,
    gateway_id: int,
    sales: Sequence[Sequence[Any]],
    *,
    kind: str,
    pending: str,
    now: datetime,
    settles_at: datetime,
) -> dict[str, int]:
    """Many sales in ONE ``INSERT ... SELECT`` from a JSON array of
    ``[key, state, amount_minor, currency, token, code, message]`` (``settles_at`` for
    those whose state is ``pending``); the ids of those written, by key. A key already
    booked (or booked meanwhile by another process) is not written and not answered.

    Tenant: every row is written under ``tenant_id``, the gateway's own."""
    if not sales:
        return {}
    params = {
        "t": tenant_id,
        "g": gateway_id,
        "kind": kind,
        "pending": pending,
        "settles": settles_at,
        "now": now,
        "rows": json_text(sales),
    }
    if not is_postgres(session):
        return _written(session, _SALES_SQLITE, params)
    # PostgreSQL: ``ON CONFLICT`` inserts each row speculatively (a probe of the unique
    # key before, a confirmation record after: ~2 µs of the server's CPU a row, a
    # quarter of the insert). A sale is booked once almost always, so the rows are first
    # written by a plain INSERT under a savepoint; the unique key refuses a key booked
    # before (or by another process meanwhile: the INSERT waits for it), which rolls
    # the savepoint back and books the batch again skipping the booked keys.
    try:
        with session.begin_nested():
            return _written(session, _SALES_POSTGRES.format(conflict=""), params)
    except IntegrityError:
        return _written(session, _SALES_POSTGRES.format(conflict=_SKIP_BOOKED), params)


def _written(session: Session, sql: str, params: dict[str, Any]) -> dict[str, int]:
    """The sales statement ``sql`` run: the ids of the charges it wrote, by key."""
    statement = text(sql).bindparams(
        bindparam("now", type_=UtcDateTime), bindparam("settles", type_=UtcDateTime)
    )
    # Fetched at once: iterating the result fetches one row a call (a slice of thousands).
    return {str(key): int(charge_id) for charge_id, key in session.execute(statement, params).all()}


def insert_charge(session: Session, charge: TestGatewayCharge) -> TestGatewayCharge:
    session.add(charge)
    session.flush()
    return charge


def lock_charge(session: Session, tenant_id: int, charge_id: int, now: datetime) -> bool:
    """Serialise changes to one sale (refunds, voids): a write first, so it takes the row
    lock on PostgreSQL and the database's write lock on SQLite before anything is read
    (a ``SELECT ... FOR UPDATE`` would not lock on SQLite). False when not found."""
    result = session.execute(
        update(TestGatewayCharge)
        .where(TestGatewayCharge.tenant_id == tenant_id, TestGatewayCharge.id == charge_id)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def refunded_minor(session: Session, tenant_id: int, sale_id: int) -> int:
    """What approved refunds gave back of one sale."""
    total = session.scalar(
        select(func.coalesce(func.sum(TestGatewayCharge.amount_minor), 0)).where(
            TestGatewayCharge.tenant_id == tenant_id,
            TestGatewayCharge.parent_id == sale_id,
            TestGatewayCharge.kind == TransactionKind.REFUND,
            TestGatewayCharge.state == ChargeState.APPROVED,
        )
    )
    return int(total or 0)


def settle_pending(
    session: Session, tenant_id: int, charge_id: int, now: datetime, *, force: bool = False
) -> bool:
    """A pending sale whose settling time has come (any, with ``force``) becomes
    approved; a conditional UPDATE, so two callers settle it once."""
    conditions = [
        TestGatewayCharge.tenant_id == tenant_id,
        TestGatewayCharge.id == charge_id,
        TestGatewayCharge.state == ChargeState.PENDING,
    ]
    if not force:
        conditions.append(TestGatewayCharge.settles_at <= now)
    result = session.execute(
        update(TestGatewayCharge)
        .where(*conditions)
        .values(state=ChargeState.APPROVED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def mark_voided(session: Session, tenant_id: int, charge_id: int, now: datetime) -> bool:
    """An approved or pending sale becomes voided (conditional on its state)."""
    result = session.execute(
        update(TestGatewayCharge)
        .where(
            TestGatewayCharge.tenant_id == tenant_id,
            TestGatewayCharge.id == charge_id,
            TestGatewayCharge.state.in_([ChargeState.APPROVED, ChargeState.PENDING]),
        )
        .values(state=ChargeState.VOIDED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
