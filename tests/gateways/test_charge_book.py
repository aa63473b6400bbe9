"""Where the test gateway keeps its charge book: on a SQLite file, a database file of its
own beside billcycle's (its own write lock, as a remote gateway's storage is its own);
on PostgreSQL, billcycle's ``test_gateway_charges`` table. Either way the book outlives
the process that wrote it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import func, select

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
