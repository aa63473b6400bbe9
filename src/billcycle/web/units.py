"""A request's unit of work run in one piece, without thread hand-offs it does not need.

With a sync ``yield`` dependency and a sync route, FastAPI runs the dependency's enter,
the route, the response validation and the dependency's exit each in a worker thread:
four hand-offs per request (each ~50-100 µs of CPU, more under GIL contention), and a
unit of work that holds its database locks across them while it waits for the event
loop to schedule its commit. Routes on the hot path take :class:`Units` instead:

* ``read(work)`` runs a unit of work that only reads inline, on the event loop. Under
  PostgreSQL's MVCC and SQLite's WAL a read never waits for a lock, so it holds the loop
  no longer than its own queries. On PostgreSQL it runs without a transaction
  (autocommit): under READ COMMITTED every statement has its own snapshot anyway, and
  this saves the BEGIN and COMMIT round trips.
* ``await write(work)`` runs the whole unit of work, from its first statement to its
  commit, in ONE worker-thread call, the request's audit event included (``audit``). It
  never holds a lock while waiting for the event loop, so waiting for another writer's
  lock cannot deadlock the process, and the loop
  keeps serving while it waits. Each process runs at most ``WRITE_THREADS[dialect]`` at
  once: on SQLite one, because writers serialise on the database file anyway, and
  writer threads of one process would otherwise wait for each other in SQLite's busy
  handler, which sleeps in steps of milliseconds. For the same reason the writer threads
  of the processes of ``serve --workers N`` on one SQLite file take turns through a file
  lock (:func:`sqlite_writers`): a writer waiting for another process's commit sleeps in
  the kernel and wakes when it ends, instead of polling in the busy handler (1, 2, 5,
  10 ms...) while the other process commits again.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from billcycle.context import ServiceContext
from billcycle.db.direct import DirectReads, direct_reads
from billcycle.db.engine import arm_write_turn, armed_write_turn
from billcycle.db.session import read_only_unit
from billcycle.runtime import Runtime
from billcycle.tenancy.service import check_token_client

T = TypeVar("T")

WRITE_THREADS = {"sqlite": 1, "postgresql": 4}
_DEFAULT_WRITE_THREADS = 4

# One limiter per event loop and dialect (anyio primitives belong to one loop).
_write_limiters: RunVar[dict[str, CapacityLimiter]] = RunVar("billcycle_write_limiters")


def write_limiter(dialect: str) -> CapacityLimiter:
    """The process's writer threads for ``dialect``: every write a request makes takes
    one (its unit of work, and the audit row written after it)."""
    limiters = _write_limiters.get(None)
    if limiters is None:
        limiters = {}
        _write_limiters.set(limiters)
    limiter = limiters.get(dialect)
    if limiter is None:
        limiter = limiters[dialect] = CapacityLimiter(
            WRITE_THREADS.get(dialect, _DEFAULT_WRITE_THREADS)
        )
    return limiter


# Hot reads on PostgreSQL run in worker threads, at most this many at once per process
# (each holds one direct-read connection, db.direct, while it waits for its round trip):
# 8 rather than 4 served ~15% more GETs at ~10% less CPU each under wrk -c64, two
# processes (docs/benchmarks.md, "GET bill run latency, fifth round").
READ_THREADS = 8
_read_limiters: RunVar[CapacityLimiter] = RunVar("billcycle_read_limiter")


def read_limiter() -> CapacityLimiter:
    """The process's threads for reads that wait on a database server round trip."""
    limiter = _read_limiters.get(None)
    if limiter is None:
        limiter = CapacityLimiter(READ_THREADS)
        _read_limiters.set(limiter)
    return limiter


# SQLite file -> the lock this process's threads take first (an flock belongs to the open
# file, so two threads of one process would not exclude each other through it alone).
_IN_PROCESS: dict[str, threading.Lock] = {}
_IN_PROCESS_GUARD = threading.Lock()


def _in_process(database: str) -> threading.Lock:
    found = _IN_PROCESS.get(database)
    if found is None:
        with _IN_PROCESS_GUARD:
            found = _IN_PROCESS.setdefault(database, threading.Lock())
    return found


class _WriterTurn:
    """A writer thread's turn on one SQLite file, taken at its unit's first writing
    statement (or savepoint) and given back when the unit ends."""

    __slots__ = ("database", "fd", "mutex")

    def __init__(self, database: str) -> None:
        self.database = database
        self.fd: int | None = None
        self.mutex: threading.Lock | None = None

    def take(self) -> None:
        if self.fd is not None:
            return
        mutex = _in_process(self.database)
        mutex.acquire()
        try:
            # Opened per use (a few µs against a write's milliseconds): a process that
            # works on many database files (the test suite) keeps no descriptor open.
            fd = os.open(f"{self.database}-writers.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            mutex.release()
            raise
        self.fd, self.mutex = fd, mutex

    def give_back(self) -> None:
        fd, mutex = self.fd, self.mutex
        self.fd = self.mutex = None
        if fd is not None:
            os.close(fd)  # closing the file releases its lock
        if mutex is not None:
            mutex.release()


def _before_statement(
    _conn: object, _cursor: object, statement: str, *_args: object, **_kwargs: object
) -> None:
    take = armed_write_turn()
    if take is not None and statement.lstrip()[:6].upper() != "SELECT":
        take()


def _before_savepoint(*_args: object) -> None:
    take = armed_write_turn()
    if take is not None:
        take()


_LISTENING: weakref.WeakSet[Engine] = weakref.WeakSet()
_LISTENING_GUARD = threading.Lock()


def _listen(engine: Engine) -> None:
    if engine in _LISTENING:
        return
    with _LISTENING_GUARD:
        if engine not in _LISTENING:
            # First among the listeners: the engine's own savepoint hook opens the
            # transaction (BEGIN IMMEDIATE), which must come after the turn is taken.
            event.listen(engine, "before_cursor_execute", _before_statement, insert=True)
            event.listen(engine, "savepoint", _before_savepoint, insert=True)
            _LISTENING.add(engine)


@contextmanager
def _turn_at_first_write(engine: Engine, database: str) -> Iterator[None]:
    if armed_write_turn() is not None:  # already armed by an outer block
        yield
        return
    _listen(engine)
    turn = _WriterTurn(database)
    arm_write_turn(turn.take)
    try:
        yield
    finally:
        arm_write_turn(None)
        turn.give_back()


def sqlite_writers(engine: Engine) -> AbstractContextManager[None]:
    """Around a request writer's unit of work on a SQLite file: the request writers of
    every process on the file take turns (``FILE-writers.lock``, ``flock``).

    The turn is taken at the unit's first statement that is not a SELECT (pysqlite opens
    the transaction there: reads before it run outside any transaction and take no
    lock), so a unit's reads, validation and object building run while another
    process's writer holds the file, and only its writes and commit wait; it is given
    back when the block ends (after the commit). Other writers (workers, the CLI) still
    meet SQLite's own lock and busy timeout; PostgreSQL locks rows, not the database,
    and takes nothing here."""
    url = engine.url
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return nullcontext()
    return _turn_at_first_write(engine, os.path.abspath(database))


@dataclass(frozen=True, slots=True)
class Units:
    """An authenticated tenant's units of work for one request."""

    runtime: Runtime
    tenant_id: int
    # Multi-org: see ServiceContext.org_ids.
    org_ids: frozenset[int] | None = None
    # The access token's (client's own tenant, client id, generation), checked in each
    # unit of work so that a deleted or rotated client's tokens stop at once; None for
    # callers without a token. The client's tenant is not always the one acted in
    # (multi-entity).
    client: tuple[int, str, int] | None = None
    # Records the request's audit event in a write's own unit of work, given the unit's
    # result (see billcycle.web.audit.unit_recorder): one commit per request.
    audit: Callable[[Session, object], None] | None = None

    def read(self, work: Callable[[ServiceContext], T]) -> T:
        """``work`` must only read (anything it adds or changes is refused, not written)."""
        runtime = self.runtime
        with read_only_unit(runtime.session_factory) as session:
            if self.client is not None:
                check_token_client(session, *self.client)
            return work(runtime.context(session, self.tenant_id, self.org_ids))

    def read_as_client(self, work: Callable[[ServiceContext, tuple[int, str, int] | None], T]) -> T:
        """As :meth:`read`, with the token check left to ``work``, which is given the
        client (see ``client``) and must refuse a stale one before it shows anything: a
        hot read folds the check into its own statement, one round trip instead of two."""
        runtime = self.runtime
        with read_only_unit(runtime.session_factory) as session:
            return work(runtime.context(session, self.tenant_id, self.org_ids), self.client)

    async def read_off_loop(
        self, work: Callable[[ServiceContext, tuple[int, str, int] | None], T]
    ) -> T:
        """:meth:`read_as_client`, where the database is a server (PostgreSQL): in a worker
        thread, so that the event loop parses, answers and sends other requests while
        this one waits for its round trip (on the loop, the whole process stopped until
        PostgreSQL answered: most of a GET's time at 64 connections, with the CPU half
        idle). SQLite answers in microseconds, from this process: inline on the loop."""
        if self.runtime.engine.dialect.name == "sqlite":
            return self.read_as_client(work)
        return await anyio.to_thread.run_sync(self.read_as_client, work, limiter=read_limiter())

    async def read_direct(self, work: Callable[[DirectReads], T]) -> T:
        """A read on the engine's direct-read connections (``db.direct``: a DB-API
        connection outside the pool, no ``Session``), where ``work`` makes the token check
        (see :meth:`read_as_client`). As :meth:`read_off_loop`: inline on SQLite, in a
        worker thread on a database server."""
        reads = direct_reads(self.runtime.engine)
        if reads.dialect_name == "sqlite":
            return work(reads)
        return await anyio.to_thread.run_sync(work, reads, limiter=read_limiter())

    async def write(self, work: Callable[[ServiceContext], T]) -> T:
        limiter = write_limiter(self.runtime.engine.dialect.name)
        return await anyio.to_thread.run_sync(self._write, work, limiter=limiter)

    def _write(self, work: Callable[[ServiceContext], T]) -> T:
        with (
            sqlite_writers(self.runtime.engine),
            self.runtime.service_context(self.tenant_id, self.org_ids) as ctx,
        ):
            if self.client is not None:
                check_token_client(ctx.session, *self.client)
            result = work(ctx)
            if self.audit is not None:
                self.audit(ctx.session, result)
            return result
