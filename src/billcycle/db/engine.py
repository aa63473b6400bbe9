"""Engine construction, tuned per backend.

SQLite is the embedded default: WAL lets the API read while a worker writes, and a busy
timeout turns writer contention into waiting rather than errors. PostgreSQL goes through
psycopg 3.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from billcycle import metrics


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and route them to psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 30)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _begin_before_savepoint)
        metrics.watch_pool(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 30)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_idle_connections(engine)
    metrics.watch_pool(engine)
    return engine


# A pooled connection used within this many seconds is taken as alive; one idle longer
# is pinged before use. (SQLAlchemy's pool_pre_ping pings at every checkout: a round trip
# per request, as long as the query itself for a read by key. A server restart under
# load still fails the statements already in flight either way.)
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_idle_connections(engine: Engine) -> None:
    dialect = engine.dialect

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")  # None: a new connection
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards the connection and checks out a new one.
            raise DisconnectionError("a pooled connection did not answer a ping") from exc

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def begin_sqlite_write(dbapi_connection: Any) -> None:
    """Open a write transaction on a pysqlite connection unless one is open.

    pysqlite (legacy transaction control) only emits BEGIN before INSERT/UPDATE/DELETE,
    so reads run outside any transaction and a SAVEPOINT issued before the first write
    starts its own transaction, whose RELEASE then commits at once: the outer rollback
    could no longer undo it. BEGIN IMMEDIATE takes the single write lock now (waiting
    up to the busy timeout), so what follows reads and writes one consistent state.
    """
    if not dbapi_connection.in_transaction:
        take_turn = armed_write_turn()
        if take_turn is not None:
            take_turn()
        dbapi_connection.execute("BEGIN IMMEDIATE")


# The cross-process writer turn (web.units.sqlite_writers) armed in this thread, if any:
# taken before a raw BEGIN IMMEDIATE too, never after SQLite's own lock, so a writer
# never holds SQLite's lock while it waits for the turn another writer holds (that one
# would wait out the busy timeout and fail).
_write_turn = threading.local()


def arm_write_turn(take: Callable[[], None] | None) -> None:
    """Set (or, with None, clear) the writer turn this thread takes before it writes."""
    _write_turn.take = take


def armed_write_turn() -> Callable[[], None] | None:
    """The writer turn armed in this thread (taking it again is a no-op), if any."""
    take: Callable[[], None] | None = getattr(_write_turn, "take", None)
    return take


def _begin_before_savepoint(conn: Any, _name: str) -> None:
    begin_sqlite_write(conn.connection.dbapi_connection)
