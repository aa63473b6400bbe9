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
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from billcycle.context import ORG_SCOPE_KEY, ServiceContext
from billcycle.db.direct import DirectReads, direct_reads
from billcycle.db.engine import arm_write_turn, armed_write_turn
from billcycle.db.session import (
    AFTER_COMMIT_KEY,
    discard_transaction,
    read_only_unit,
    unit_of_work,
)
from billcycle.runtime import Runtime
from billcycle.tenancy.repository import client_generation
from billcycle.tenancy.service import check_generation, check_token_client

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


# While a thread of this process holds a writer turn, the interpreter hands the GIL
# over at most this often (seconds; Python's default is 5 ms). The turn holder gives up
# the GIL in every SQLite call and then waits for it; with the default interval a busy
# event loop (parsing, answering) keeps it up to 5 ms each time, while every other
# process's writer waits for the turn. Only a waiting thread shortens anyone's slice, so
# outside the turn (or with no one waiting) this costs nothing.
TURN_SWITCH_INTERVAL = float(os.environ.get("BILLCYCLE_TURN_SWITCH_INTERVAL", "0.0001"))
_switch_guard = threading.Lock()
_switch_holders = 0
_switch_saved = 0.005


def _hold_switch_interval() -> None:
    global _switch_holders, _switch_saved
    if TURN_SWITCH_INTERVAL <= 0:
        return
    with _switch_guard:
        if _switch_holders == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(TURN_SWITCH_INTERVAL)
        _switch_holders += 1


def _release_switch_interval() -> None:
    global _switch_holders
    if TURN_SWITCH_INTERVAL <= 0:
        return
    with _switch_guard:
        _switch_holders -= 1
        if _switch_holders == 0:
            sys.setswitchinterval(_switch_saved)


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
        _hold_switch_interval()

    def give_back(self) -> None:
        fd, mutex = self.fd, self.mutex
        self.fd = self.mutex = None
        if fd is not None:
            os.close(fd)  # closing the file releases its lock
            _release_switch_interval()
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


def prepare_writers(engine: Engine) -> None:
    """Registers the write turn's listeners on a SQLite engine before the process uses it
    from several threads: SQLAlchemy's listener lists cannot grow while another thread
    runs a statement through them (that statement fails with ``RuntimeError: deque
    mutated during iteration``: a bill run started by a background thread failed so while
    the first request wrote). :func:`_turn_at_first_write` still registers them itself
    for an engine nobody prepared (a test's own app)."""
    if engine.url.get_backend_name() == "sqlite":
        _listen(engine)


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
    audit: UnitAudit | None = None

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

    async def write(
        self, work: Callable[[ServiceContext], T], *, self_contained: bool = False
    ) -> T:
        """Run ``work`` as one unit of work in a writer thread, its audit event included.

        ``self_contained``: ``work`` changes nothing outside its own transaction (no
        gateway call; an account number block drawn in a transaction of its own is
        only a number). On a database server the token check then rides on the audit
        row's statement at the unit's end (one round trip less) instead of running
        first: a stale token still changes nothing (the unit rolls back), and when
        ``work`` fails the token is checked before its error is answered, so a revoked
        token is told so first, as before."""
        if _groups_writes(self.runtime.engine):
            return await _grouped(self, work)
        limiter = write_limiter(self.runtime.engine.dialect.name)
        write = self._write_checked_late if self_contained else self._write
        return await anyio.to_thread.run_sync(write, work, limiter=limiter)

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

    def _write_checked_late(self, work: Callable[[ServiceContext], T]) -> T:
        client, audit = self.client, self.audit
        if client is None or audit is None or self.runtime.engine.dialect.name == "sqlite":
            return self._write(work)
        with self.runtime.service_context(self.tenant_id, self.org_ids) as ctx:
            try:
                result = work(ctx)
            except Exception:
                # Its writes go; the token is read afresh: a revoked token is told so
                # before the work's own error, as when it was checked first.
                discard_transaction(ctx.session)
                check_token_client(ctx.session, *client)
                raise
            audit(ctx.session, result, client)
            return result


class UnitAudit(Protocol):
    """Records a request's audit event in its write's unit of work, given the work's
    result; given the token's client (tenant, client id, generation), also refuses a
    stale token by the same statement (billcycle.web.audit.unit_recorder)."""

    def __call__(
        self, session: Session, result: object, client: tuple[int, str, int] | None = None
    ) -> None: ...


# -- group commit (SQLite) ------------------------------------------------------------------
#
# On SQLite every request writer of every server process waits its turn for the one write
# lock, so POST throughput is 1 / (the time a write holds the turn). A unit of work alone
# pays, inside its turn, the hand-off of the turn between processes (a blocked thread of
# the other process woken, then waiting for its own process's GIL, which the busy event
# loop holds for up to a switch interval), BEGIN IMMEDIATE, and a commit that appends every
# page it touched to the WAL (the number row, the accounts, contacts, events and audit
# tables and their indexes: the same few pages, written again by every POST). The writes
# waiting in one process at the same moment instead run in ONE transaction, one after
# another, each but the first in a savepoint of its own, so a write that fails rolls back
# only itself (its request answers its error; the others commit); one turn, one commit and
# one WAL append carry them all. The answer of each is released only after that commit: a
# client never sees a write that could still roll back. PostgreSQL locks rows, and its
# writes run in parallel on their own connections: they are not grouped.


@dataclass(eq=False, slots=True)
class _Job:
    units: Units
    work: Callable[[ServiceContext], object]
    woken: anyio.Event = field(default_factory=anyio.Event)
    lead: bool = False
    ran: bool = False
    result: object = None
    error: BaseException | None = None

    def outcome(self) -> object:
        if self.error is not None:
            raise self.error
        if not self.ran:  # pragma: no cover - a group always settles each of its writes
            raise RuntimeError("a grouped write was never run")
        return self.result


@dataclass(eq=False, slots=True)
class _Group:
    """The writes waiting in this process (one event loop), and whether one of their
    requests is leading: running a group in a writer thread, or about to."""

    pending: list[_Job] = field(default_factory=list)
    leading: bool = False


# Per event loop, one group queue per database (engine): a process (a test suite) may
# write to several.
_groups: RunVar[weakref.WeakKeyDictionary[Engine, _Group]] = RunVar("billcycle_write_groups")
_group_threads: RunVar[CapacityLimiter] = RunVar("billcycle_group_threads")


def _groups_writes(engine: Engine) -> bool:
    url = engine.url
    return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")


def _group(engine: Engine) -> _Group:
    groups = _groups.get(None)
    if groups is None:
        groups = weakref.WeakKeyDictionary()
        _groups.set(groups)
    group = groups.get(engine)
    if group is None:
        group = groups[engine] = _Group()
    return group


def _group_thread() -> CapacityLimiter:
    # The thread that runs a group, apart from the request's own limiter: the leader
    # already holds the write limiter's token (anyio lends a task one token at most).
    limiter = _group_threads.get(None)
    if limiter is None:
        limiter = CapacityLimiter(1)
        _group_threads.set(limiter)
    return limiter


async def _grouped(units: Units, work: Callable[[ServiceContext], T]) -> T:
    """``units.write(work)`` on SQLite: queued with the process's other waiting writes.
    The request that finds no group leading leads: it takes the write limiter (so the
    audit and Idempotency-Key writes of the process still run one at a time with it),
    runs the writes queued by then, up to ``write_group_limit``, as one transaction in a writer
    thread, wakes their requests and hands the lead to the oldest write still queued."""
    group = _group(units.runtime.engine)
    job = _Job(units, work)
    group.pending.append(job)
    if group.leading:
        try:
            await job.woken.wait()
        except BaseException:
            if job in group.pending:  # cancelled before it ran: it never will
                group.pending.remove(job)
                if job.lead:
                    _hand_off(group)
            raise
        if not job.lead:
            return job.outcome()  # type: ignore[return-value]
    group.leading = True
    batch: list[_Job] = []
    try:
        async with write_limiter("sqlite"):
            limit = max(1, units.runtime.settings.write_group_limit)
            batch = group.pending[:limit]
            del group.pending[:limit]
            await anyio.to_thread.run_sync(run_group, batch, limiter=_group_thread())
    finally:
        for other in batch:
            other.woken.set()
        if job in group.pending:  # cancelled while waiting for the limiter
            group.pending.remove(job)
        _hand_off(group)
    return job.outcome()  # type: ignore[return-value]


def _hand_off(group: _Group) -> None:
    if group.pending:
        following = group.pending[0]
        following.lead = True
        following.woken.set()
    else:
        group.leading = False


def run_group(jobs: list[_Job]) -> None:
    """Run ``jobs`` (writes of one process, in order) as one unit of work and settle
    each: its result once the unit committed, or its own error.

    The token checks come first, one read per client (reads take no turn). A write runs
    without a savepoint while no write before it in the group succeeded (if it fails,
    the transaction, holding nothing else, rolls back whole): so a group of one is
    exactly an ungrouped write, and the first write's reads, like an ungrouped one's,
    run before the turn is taken; every later write runs in a savepoint of its own."""
    runtime = jobs[0].units.runtime
    done: list[_Job] = []
    try:
        with (
            sqlite_writers(runtime.engine),
            unit_of_work(runtime.session_factory) as session,
        ):
            generations: dict[tuple[int, str], int | None] = {}
            for job in jobs:
                client = job.units.client
                if client is None:
                    continue
                home, client_id, generation = client
                if (home, client_id) not in generations:
                    generations[home, client_id] = client_generation(session, client_id, home)
                try:
                    check_generation(generations[home, client_id], generation)
                except Exception as exc:
                    job.error = exc
            for job in jobs:
                if job.error is None:
                    _run_one(session, job, savepoint=bool(done))
                    if job.error is None:
                        done.append(job)
    except BaseException as exc:  # the commit (or the turn) failed: nothing was written
        for job in jobs:
            if job in done or job.error is None:
                job.error = exc
        if not isinstance(exc, Exception):
            raise
        return
    for job in done:
        job.ran = True


def _run_one(session: Session, job: _Job, *, savepoint: bool) -> None:
    callbacks = session.info.get(AFTER_COMMIT_KEY)
    kept = len(callbacks) if callbacks is not None else 0
    session.info.pop(ORG_SCOPE_KEY, None)  # set again for a write limited to organizations
    try:
        if savepoint:
            with session.begin_nested():
                job.result = _work(session, job)
        else:
            job.result = _work(session, job)
    except Exception as exc:
        job.error = exc
        if not savepoint:
            discard_transaction(session)
        # The writes before it are flushed (begin_nested flushes first). Objects the
        # failed write put in the session as already stored (accounts.repository's
        # insert_account) would keep ids that SQLite hands out again to the next write.
        session.expunge_all()
        after = session.info.get(AFTER_COMMIT_KEY)
        if after is not None:
            del after[kept:]  # its after-commit callbacks go with its writes


def _work(session: Session, job: _Job) -> object:
    units = job.units
    ctx = units.runtime.context(session, units.tenant_id, units.org_ids)
    result = job.work(ctx)
    if units.audit is not None:
        units.audit(session, result)
    return result
