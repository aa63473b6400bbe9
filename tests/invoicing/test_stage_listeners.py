"""A bill run's stage file (``invoicing/staging_repository.py``) and the direct reads
(``db/direct.py``) add no engine listener at run time: SQLAlchemy's listener lists cannot
grow while another thread runs a statement through them (that statement fails with
``RuntimeError: deque mutated during iteration``, as a bill run once did when the first
request registered the write turn's hook; see ``tests/web/test_engine_listeners.py``).
Their per-connection and per-engine steps are hooks run by the listeners ``make_engine``
registers when it builds the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from billcycle.db.direct import direct_reads
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory
from billcycle.invoicing import staging_repository as staging


def _listeners(engine: Engine) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The engine's checkin (a pool event) and disposal listeners."""
    return tuple(engine.pool.dispatch.checkin), tuple(engine.dispatch.engine_disposed)


def _attached(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return {row[1] for row in connection.execute(text("PRAGMA database_list"))}


def test_a_stage_is_attached_and_detached_without_a_new_listener(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("bill-run stages are SQLite's")
    engine = make_engine(database_url, pool_size=1, max_overflow=0)  # one connection
    try:
        built = _listeners(engine)
        assert built[0], "make_engine registers the checkin listener the stage needs"
        sessions = make_session_factory(engine)
        with sessions() as session:
            staging.create_stage(session, str(tmp_path / "stage.db"))
            staging.begin_snapshot(session)
            assert staging.STAGE in {
                row[1] for row in session.execute(text("PRAGMA database_list"))
            }
            session.commit()
        # The connection went back to the pool: the stage is detached from it.
        assert staging.STAGE not in _attached(engine)
        # And attached again (the writer's side) on the same pooled connection.
        with sessions() as session:
            session.connection()
            staging.attach_stage(session, str(tmp_path / "stage.db"))
            session.commit()
        assert staging.STAGE not in _attached(engine)
        assert _listeners(engine) == built
    finally:
        engine.dispose()


def test_direct_reads_add_no_listener_and_close_on_dispose(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        built = _listeners(engine)
        reads = direct_reads(engine)
        with reads.connection() as connection:
            pass
        assert _listeners(engine) == built
        engine.dispose()
        with pytest.raises(Exception):  # noqa: B017,PT011 - sqlite3 and psycopg word it apart
            connection.cursor().execute("SELECT 1")
    finally:
        engine.dispose()
