"""SQLite: a writer waiting for the database's write lock is seen by a bulk job's worker
(``db.engine.wait_for_waiting_writers``), which pauses between chunks only then; with no
one waiting it goes on at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import update

from billcycle.accounts.models import Account
from billcycle.db.engine import begin_sqlite_write, wait_for_waiting_writers
from billcycle.db.session import unit_of_work
from billcycle.runtime import Runtime


def _seen_waiting(runtime: Runtime, alive: Callable[[], bool]) -> bool:
    """Whether the worker's check sees a writer waiting, before the writer gives up."""
    deadline = time.monotonic() + 25  # the busy timeout is 30 s
    while time.monotonic() < deadline and alive():
        if wait_for_waiting_writers(runtime.engine, at_most=0):
            return True
        time.sleep(0.01)
    return False


def _hold_the_write_lock(runtime: Runtime) -> tuple[object, Callable[[], None]]:
    raw = runtime.engine.raw_connection()
    begin_sqlite_write(raw.driver_connection)

    def release() -> None:
        raw.driver_connection.commit()  # type: ignore[union-attr]
        raw.close()

    return raw, release


@pytest.mark.parametrize("how", ["dml", "begin immediate"])
def test_a_writer_waiting_for_the_lock_is_seen_until_it_has_it(runtime: Runtime, how: str) -> None:
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL locks rows: a bulk job's worker never pauses for a writer")
    assert not wait_for_waiting_writers(runtime.engine)  # no one waits: no pause
    _, release = _hold_the_write_lock(runtime)
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with unit_of_work(runtime.session_factory) as session:
                if how == "begin immediate":
                    begin_sqlite_write(session.connection().connection.driver_connection)
                session.execute(update(Account).where(Account.id == -1).values(name="x"))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        assert _seen_waiting(runtime, lambda: not done.is_set())
    finally:
        release()
    writer.join(timeout=60)
    assert done.is_set()
    assert not errors
    # The writer had the lock and finished: nothing to wait for any more.
    assert not wait_for_waiting_writers(runtime.engine)
