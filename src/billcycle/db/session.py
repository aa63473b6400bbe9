"""Units of work: the request or job owns the transaction, services only flush.

``unit_of_work`` commits when the block ends normally and rolls back on any exception;
callbacks registered with :func:`after_commit` (e.g. enqueueing a job) run only once the
commit succeeded, so a worker never sees work whose transaction rolled back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

# session.info key of the callbacks to run once the unit committed (see after_commit).
AFTER_COMMIT_KEY = _AFTER_COMMIT = "billcycle_after_commit"


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    session = factory()
    try:
        yield session
        session.commit()
        for callback in session.info.pop(_AFTER_COMMIT, []):
            callback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_only_unit(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work that only reads, without a transaction of its own.

    On PostgreSQL the connection runs in autocommit for this checkout (the setting is
    client-side in psycopg and restored when the connection goes back to the pool):
    under READ COMMITTED each statement had its own snapshot anyway, and this saves the
    BEGIN and COMMIT round trips. pysqlite already reads outside a transaction. Nothing
    is flushed: objects the work adds or changes are a programming error, refused before
    anything reaches the database.
    """
    session = factory(autoflush=False)
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("a read-only unit of work tried to change data")
    finally:
        session.close()


@contextmanager
def snapshot_unit(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work that only reads, every statement from ONE snapshot (a long answer
    read in pages shows one state of the data): a REPEATABLE READ, READ ONLY transaction
    on PostgreSQL; on SQLite an explicit deferred BEGIN, since pysqlite opens none before
    a SELECT and WAL pins a reader's snapshot at its transaction's first read."""
    session = factory(autoflush=False)
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            session.execute(text("SET TRANSACTION READ ONLY"))
        else:
            raw = session.connection().connection.dbapi_connection
            if raw is not None and not raw.in_transaction:
                raw.execute("BEGIN")
        yield session
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("a read-only unit of work tried to change data")
    finally:
        session.close()


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def discard_transaction(session: Session) -> None:
    """Roll back the unit's open transaction and keep the unit going.

    For a unit that runs several writes one after another (the SQLite group commit in
    ``web/units.py``): when the first of them fails there is no savepoint to return to,
    and the transaction holds nothing but that write, so the whole of it goes and the
    next write starts a new one in the same unit; and for a write whose token check
    comes after its work (``Units.write(..., self_contained=True)``): a failed work's
    writes go before the token is read again."""
    session.rollback()
