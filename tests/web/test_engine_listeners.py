"""The app registers its engine listeners when it is built, before background threads run
statements on the engine: SQLAlchemy's listener lists cannot grow while another thread
iterates them (a bill run started by the embedded worker once failed with ``RuntimeError:
deque mutated during iteration`` as the first request registered the write turn's hook)."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from billcycle.clock import FrozenClock
from billcycle.config import Settings
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory
from billcycle.jobs import wiring
from billcycle.runtime import Runtime
from billcycle.web import units
from billcycle.web.app import create_app


def test_building_the_app_registers_the_write_turn_hooks_on_a_fresh_sqlite_engine(
    database_url: str, clock: FrozenClock, machine_clock: FrozenClock
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the write turn is SQLite's")
    engine = make_engine(database_url)  # a new engine object: no listener yet
    try:
        assert not event.contains(engine, "before_cursor_execute", units._before_statement)
        runtime = Runtime(
            settings=Settings(database_url=database_url, secret_key="test-secret-key-" + "x" * 32),
            engine=engine,
            session_factory=make_session_factory(engine),
            clock=clock,
            machine_clock=machine_clock,
        )
        wiring.manual(runtime)
        create_app(runtime)
        assert event.contains(engine, "before_cursor_execute", units._before_statement)
        assert event.contains(engine, "savepoint", units._before_savepoint)
    finally:
        engine.dispose()
