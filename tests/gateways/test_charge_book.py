"""Where the test gateway keeps its charge book: on a SQLite file, a database file of its
own beside billcycle's (its own write lock, as a remote gateway's storage is its own);
on PostgreSQL, billcycle's ``test_gateway_charges`` table. Either way the book outlives
the process that wrote it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from billcycle.db import migrate
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory
from billcycle.gateways.models import TestGatewayCharge
from billcycle.gateways.statuses import GatewayOutcome
from billcycle.gateways.test_gateway import (
    BatchingTestGateway,
    book_engine,
    book_path,
    charge_book,
)
from billcycle.gateways.test_gateway_repository import book_columns
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.gateways.helpers import (
    Sleeps,
    charge_rows,
    configure_test_gateway,
    open_test_gateway,
    sale,
)


def _restarted(runtime: Runtime) -> Runtime:
    """The same database opened again by a new engine, as a restarted process does."""
    engine = make_engine(runtime.settings.database_url)
    return Runtime(
        settings=runtime.settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=runtime.clock,
        machine_clock=runtime.machine_clock,
    )


def test_the_book_survives_a_restart(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    gateway_id = configure_test_gateway(runtime, t)
    first = open_test_gateway(runtime, t, Sleeps(), gateway_id).sale(sale("book-1", "tok_visa"))
    assert first.outcome == GatewayOutcome.APPROVED
    restarted = _restarted(runtime)
    try:
        gateway = open_test_gateway(restarted, t, Sleeps(), gateway_id)
        found = gateway.status("book-1")
        assert (found.outcome, found.transaction_id) == (
            GatewayOutcome.APPROVED,
            first.transaction_id,
        )
        # The same sale again is the same transaction: nothing charged twice.
        again = gateway.sale(sale("book-1", "tok_visa"))
        assert again.transaction_id == first.transaction_id
        (row,) = charge_rows(restarted, t)
        assert (row.amount_minor, row.state) == (1000, "Approved")
    finally:
        restarted.engine.dispose()


def test_on_sqlite_the_book_is_a_file_of_its_own(
    runtime: Runtime, tenant: NewTenant, database_url: str
) -> None:
    t = tenant.tenant_id
    gateway = open_test_gateway(runtime, t, Sleeps(), configure_test_gateway(runtime, t))
    assert isinstance(gateway, BatchingTestGateway)
    book = book_engine(runtime.engine)
    if not database_url.startswith("sqlite"):
        # PostgreSQL: billcycle's own table (Alembic's), rows locked where written.
        assert book is runtime.engine
        assert gateway.sale(sale("own-1", "tok_visa")).outcome == GatewayOutcome.APPROVED
        assert len(charge_rows(runtime, t)) == 1
        return
    database = runtime.engine.url.database
    assert database is not None
    path = Path(book_path(database))
    assert path.parent == Path(database).resolve().parent
    assert book.url.database == str(path)
    # The book's table has the model's columns (its own schema, made when opened).
    model = [c.name for c in TestGatewayCharge.__table__.columns]
    assert sorted(book_columns(book)) == sorted(model)
    # Another writer holds billcycle's write lock: the gateway books its sales anyway.
    holder = sqlite3.connect(database, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        answered = gateway.sale_columns(
            ["own-1", "own-2"], [1000, 2000], ["USD", "USD"], ["tok_visa", "tok_visa"], per_call=2
        )
        gateway.sale(sale("own-3", "tok_chargeDeclined"))
    finally:
        holder.rollback()
        holder.close()
    assert answered.outcomes == [GatewayOutcome.APPROVED, GatewayOutcome.APPROVED]
    assert path.exists()
    # Written in the book, not in billcycle's file.
    with runtime.session_factory() as session:
        assert not session.scalar(
            select(func.count())
            .select_from(TestGatewayCharge)
            .where(TestGatewayCharge.tenant_id == t)
        )
    with charge_book(runtime.engine)() as session:
        states = sorted(
            (row.idempotency_key, row.state, row.amount_minor)
            for row in session.scalars(
                select(TestGatewayCharge).where(TestGatewayCharge.tenant_id == t)
            )
        )
    assert states == [
        ("own-1", "Approved", 1000),
        ("own-2", "Approved", 2000),
        ("own-3", "Declined", 1000),
    ]


def _mark(path: str) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute("PRAGMA application_id").fetchone()[0])


def _book_keys(path: str) -> list[str]:
    with sqlite3.connect(path) as connection:
        return [
            row[0] for row in connection.execute("SELECT idempotency_key FROM test_gateway_charges")
        ]


def test_a_book_left_by_a_deleted_database_is_moved_aside(empty_database_url: str) -> None:
    """billcycle's file deleted and made again, its book kept: the new database's payment
    keys (numbers restart) must not meet the old charges. The book records the mark of
    the database it serves (migration 0043) and is moved aside, kept, for a new one; the
    same database opened again keeps its book."""
    if not empty_database_url.startswith("sqlite"):
        return  # PostgreSQL: the book is a table of the database itself
    database = empty_database_url.removeprefix("sqlite:///")
    migrate.upgrade(empty_database_url)
    first_mark = _mark(database)
    assert first_mark
    engine = make_engine(empty_database_url)
    with charge_book(engine)() as session:
        session.add(
            TestGatewayCharge(
                tenant_id=1,
                gateway_id=1,
                idempotency_key="P-00000001",
                kind="Sale",
                state="Approved",
                amount_minor=1000,
                currency="USD",
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
        )
        session.commit()
    path = Path(book_path(database))
    assert _mark(str(path)) == first_mark
    engine.dispose()
    # Opened again: the same database, the same book.
    engine = make_engine(empty_database_url)
    book_engine(engine)
    engine.dispose()
    assert _book_keys(str(path)) == ["P-00000001"]
    # billcycle's file deleted and made again beside the kept book.
    for suffix in ("", "-wal", "-shm"):
        Path(database + suffix).unlink(missing_ok=True)
    migrate.upgrade(empty_database_url)
    assert _mark(database) not in (0, first_mark)
    engine = make_engine(empty_database_url)
    try:
        book_engine(engine)
    finally:
        engine.dispose()
    assert _book_keys(str(path)) == []
    assert _mark(str(path)) == _mark(database)
    (aside,) = path.parent.glob(f"{path.stem}.stale-*{path.suffix}")
    assert _book_keys(str(aside)) == ["P-00000001"]
    assert _mark(str(aside)) == first_mark
