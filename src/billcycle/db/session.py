"""Units of work: the request or job owns the transaction, services only flush.

``unit_of_work`` commits when the block ends normally and rolls back on any exception;
callbacks registered with :func:`after_commit` (e.g. enqueueing a job) run only once the
commit succeeded, so a worker never sees work whose transaction rolled back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

_AFTER_COMMIT = "billcycle_after_commit"


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


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)
