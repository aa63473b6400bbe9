"""Reads by key straight on a DB-API connection, for the hottest polled GET.

Through an ORM ``Session`` a one-statement read paid, per request, more than the database
spent on it: the session and its transaction object, a pool checkout and checkin (with
their events and pool metrics), the connection wrapper, the compiled-statement cache
look-up, the execution context and the result object: ~0.1 ms of Python where SQLite
answers the statement in ~11 µs (docs/benchmarks.md, "GET bill run latency, fifth
round"). Here:

* :class:`DirectReads` keeps a few DB-API connections of an engine apart from its pool
  (taken from the pool once, so they were set up by the engine's own ``connect`` hooks,
  then detached), hands one to a read and takes it back. A connection whose read raised
  is closed, not kept; one idle for longer than the engine's ping delay is pinged first
  (as the pool does, ``db.engine.PING_AFTER_IDLE_SECONDS``); all are closed when the
  engine is disposed. On PostgreSQL they run in autocommit (as ``read_only_unit``: no
  BEGIN/COMMIT round trips; READ COMMITTED gives each statement its snapshot anyway).
* :class:`DirectSelect` is one SQLAlchemy ``Select`` compiled once for the connection's
  dialect: its SQL, its parameters in the driver's order, and its columns' result
  processors (SQLAlchemy's own, so values come out as through a ``Session``).

* :class:`LoopReads` are the same reads on one event loop: on PostgreSQL psycopg's async
  connections, driven by the loop itself (no thread between the request and its read).
* :class:`ReadBatches` gathers the reads of one kind that an event loop's requests wait
  for at once and runs them as ONE statement (the caller's ``many``) on the loop's
  :class:`LoopReads`: one round trip for many requests on a database server; a batch
  that fails is read again key by key, so one failing read fails alone.

Statements are still seen by the engine's ``before_cursor_execute`` listeners (with no
SQLAlchemy connection or execution context), so what counts an engine's statements counts
these. Only reads: nothing here opens a transaction.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import weakref
from collections import deque, namedtuple
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any, Generic, TypeVar

import psycopg
from psycopg.types.string import TextLoader
from sqlalchemy import JSON, Engine, Select
from sqlalchemy.engine import Dialect

from billcycle.db.engine import PING_AFTER_IDLE_SECONDS, at_dispose

K = TypeVar("K")
R = TypeVar("R")

# The DB-API connections each engine keeps for direct reads, by engine.
_READERS: weakref.WeakKeyDictionary[Engine, DirectReads] = weakref.WeakKeyDictionary()
_READERS_GUARD = threading.Lock()


def direct_reads(engine: Engine) -> DirectReads:
    """``engine``'s direct-read connections (made on first use)."""
    found = _READERS.get(engine)
    if found is None:
        with _READERS_GUARD:
            found = _READERS.get(engine)
            if found is None:
                found = _READERS[engine] = DirectReads(engine)
    return found


class DirectReads:
    """A free list of DB-API connections of one engine, outside its pool."""

    def __init__(self, engine: Engine) -> None:
        # Weakly: the engine keys this object in _READERS and must stay collectable.
        self._engine = weakref.ref(engine)
        self.dialect = engine.dialect
        self.dialect_name: str = engine.dialect.name
        # (connection, idle since): appended and popped at the right end (atomic in
        # CPython), so the most recently used connection is used again first.
        self._idle: deque[tuple[Any, float]] = deque()
        # Every connection open (idle or in use), for close().
        self._open: set[Any] = set()
        # Batched reads of these connections, by name (see batches()).
        self._batches: dict[str, ReadBatches[Any, Any]] = {}
        # The reads of each event loop that used them (see on_loop()).
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopReads] = (
            weakref.WeakKeyDictionary()
        )
        self._connect_args: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        # A hook the engine's disposal listener runs (registered when make_engine built
        # it): these reads are made at first use, while other threads run statements.
        at_dispose(engine, self._on_dispose)

    def engine(self) -> Engine:
        engine = self._engine()
        if engine is None:
            raise RuntimeError("the engine of these direct reads is gone")
        return engine

    def _on_dispose(self, _engine: Engine) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection (the idle ones now; one in use when it comes back)."""
        _close_idle(self._idle, self._close)
        self._idle = deque()
        for connection in list(self._open):
            self._close(connection)
        # The engine may be used again (a disposed engine reconnects): new ones are made
        # then.
        batches, self._batches = self._batches, {}
        for kind in batches.values():
            kind.close()
        loops, self._loops = self._loops, weakref.WeakKeyDictionary()
        for reads in list(loops.values()):
            reads.close()

    def connect_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """What the engine's dialect gives the driver's ``connect`` (its adapters too)."""
        found = self._connect_args
        if found is None:
            cargs, cparams = self.dialect.create_connect_args(self.engine().url)
            found = self._connect_args = (tuple(cargs), dict(cparams))
        return found

    def on_loop(self, loop: asyncio.AbstractEventLoop | None = None) -> LoopReads:
        """These reads on ``loop`` (the running one by default; made on first use). The
        connections of loops that were closed since are closed now."""
        loop = loop or asyncio.get_running_loop()
        found = self._loops.get(loop)
        if found is None:
            for other, reads in list(self._loops.items()):
                if other.is_closed():
                    reads.close()
                    self._loops.pop(other, None)
            found = self._loops[loop] = LoopReads(self, loop)
        return found

    def _new(self) -> Any:
        fairy = self.engine().raw_connection()
        fairy.detach()  # ours from now on: the pool neither counts nor resets it
        connection: Any = fairy.dbapi_connection
        if self.dialect_name == "postgresql":
            connection.autocommit = True
            documents_as_text(connection)
        self._open.add(connection)
        return connection

    def _close(self, connection: Any) -> None:
        self._open.discard(connection)
        with suppress(Exception):  # a broken connection closes as far as it can
            connection.close()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        idle = self._idle
        try:
            connection, since = idle.pop()
        except IndexError:
            connection = self._new()
        else:
            if (
                self.dialect_name != "sqlite"
                and time.monotonic() - since >= PING_AFTER_IDLE_SECONDS
            ):
                try:
                    self.dialect.do_ping(connection)
                except Exception:
                    self._close(connection)
                    connection = self._new()
        try:
            yield connection
        except BaseException:
            self._close(connection)
            raise
        idle.append((connection, time.monotonic()))
        if idle is not self._idle:  # closed meanwhile (engine disposed)
            self.close()

    def _execute_listeners(self, cursor: Any, sql: str, args: Any) -> None:
        # The engine's cursor listeners (statement counts in tests, metrics) see these reads
        # too; there is no SQLAlchemy connection behind them, hence ``None``.
        listeners = self.engine().dispatch.before_cursor_execute
        if listeners:
            for listener in listeners:
                listener(None, cursor, sql, args, None, False)

    def _execute(self, cursor: Any, sql: str, args: Any) -> None:
        self._execute_listeners(cursor, sql, args)
        cursor.execute(sql, args)

    def first(self, statement: DirectSelect, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The statement's first row as the driver returns it (no result processing)."""
        sql, args = statement.sql, statement.arguments(params)
        with self.connection() as connection:
            cursor = connection.cursor()
            try:
                self._execute(cursor, sql, args)
                row: tuple[Any, ...] | None = cursor.fetchone()
                if row is not None and statement.processors is None:
                    statement.learn(self.dialect, cursor.description)
                return row
            finally:
                cursor.close()

    def all(self, statement: DirectSelect, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Every row of the statement as the driver returns them (see :meth:`first`)."""
        sql, args = statement.sql, statement.arguments(params)
        with self.connection() as connection:
            cursor = connection.cursor()
            try:
                self._execute(cursor, sql, args)
                rows: list[tuple[Any, ...]] = cursor.fetchall()
                if rows and statement.processors is None:
                    statement.learn(self.dialect, cursor.description)
                return rows
            finally:
                cursor.close()

    def batches(self, name: str, make: Callable[[DirectReads], ReadBatches[Any, Any]]) -> Any:
        """The engine's :class:`ReadBatches` called ``name`` (made by ``make`` on first use;
        dropped when these connections are closed)."""
        found = self._batches.get(name)
        if found is None:
            with _READERS_GUARD:
                found = self._batches.get(name)
                if found is None:
                    found = self._batches[name] = make(self)
        return found


class LoopReads:
    """The direct reads of one engine on one event loop.

    On PostgreSQL: psycopg's async connections (made with the engine's own connect
    arguments and adapters, autocommit), driven by the loop itself: a read sends its
    statement and the loop goes on serving other requests until the answer is on the
    socket, which the loop's selector watches with the clients'. No reader thread, so no
    hand-off to it and back, no wake-up of the loop from another thread, and no GIL
    passed between a reader and the loop (docs/benchmarks.md, "GET bill run on
    PostgreSQL (session 7, pgget)"). A connection whose read raised is closed, not kept;
    one idle for longer than the engine's ping delay is pinged first; all are closed
    when the engine is disposed or the loop is gone.

    On SQLite a read runs inline on :class:`DirectReads`' connections (microseconds, in
    process), so the same callers work on both.
    """

    def __init__(self, owner: DirectReads, loop: asyncio.AbstractEventLoop) -> None:
        self._owner = owner
        self.dialect = owner.dialect
        self.dialect_name = owner.dialect_name
        # (connection, idle since), most recently used at the right end.
        self._idle: deque[tuple[Any, float]] = deque()
        self._open: set[Any] = set()
        self.closed = False
        # A loop that is collected (asyncio.run's, in tests) takes its connections along.
        weakref.finalize(loop, self.close)

    def close(self) -> None:
        """Close every connection (a read under way on one fails, as with
        :meth:`DirectReads.close`). Closing an async connection is synchronous in psycopg
        (its socket is shut at once), so this may run from any thread."""
        self.closed = True
        _close_idle(self._idle, self._close)
        for connection in list(self._open):
            self._close(connection)

    def _close(self, connection: Any) -> None:
        self._open.discard(connection)
        with suppress(Exception):  # a broken connection closes as far as it can
            connection.pgconn.finish()

    async def _new(self) -> Any:
        cargs, cparams = self._owner.connect_args()
        connection = await psycopg.AsyncConnection.connect(*cargs, **cparams, autocommit=True)
        documents_as_text(connection)
        self._open.add(connection)
        return connection

    async def _take(self) -> Any:
        idle = self._idle
        try:
            connection, since = idle.pop()
        except IndexError:
            return await self._new()
        if time.monotonic() - since >= PING_AFTER_IDLE_SECONDS:
            try:
                await connection.execute("SELECT 1")
            except Exception:
                self._close(connection)
                return await self._new()
        return connection

    def _give_back(self, connection: Any) -> None:
        if self.closed:
            self._close(connection)
        else:
            self._idle.append((connection, time.monotonic()))

    async def _rows(self, statement: DirectSelect, params: dict[str, Any], one: bool) -> Any:
        sql, args = statement.sql, statement.arguments(params)
        if self.dialect_name == "sqlite":
            if one:
                return self._owner.first(statement, params)
            return self._owner.all(statement, params)
        connection = await self._take()
        try:
            cursor = connection.cursor()
            self._owner._execute_listeners(cursor, sql, args)
            await cursor.execute(sql, args)
            rows: list[tuple[Any, ...]] = await cursor.fetchall()
            if rows and statement.processors is None:
                statement.learn(self.dialect, cursor.description)
        except BaseException:
            self._close(connection)
            raise
        self._give_back(connection)
        if one:
            return rows[0] if rows else None
        return rows

    async def first(
        self, statement: DirectSelect, params: dict[str, Any]
    ) -> tuple[Any, ...] | None:
        """:meth:`DirectReads.first` on this loop."""
        row: tuple[Any, ...] | None = await self._rows(statement, params, True)
        return row

    async def all(self, statement: DirectSelect, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """:meth:`DirectReads.all` on this loop."""
        rows: list[tuple[Any, ...]] = await self._rows(statement, params, False)
        return rows


class _Pending(Generic[K, R]):
    """One event loop's reads waiting for a batch, and its batches under way."""

    __slots__ = ("reads", "running", "starting", "tasks", "waiting")

    def __init__(self, reads: LoopReads) -> None:
        self.reads = reads
        self.waiting: list[tuple[K, asyncio.Future[R]]] = []
        # Batch tasks out (at most ReadBatches' running), and whether one of them has not
        # taken its batch yet (then a read just joins the waiting list).
        self.running = 0
        self.starting = False
        self.tasks: set[asyncio.Task[None]] = set()


class ReadBatches(Generic[K, R]):
    """Concurrent reads of one kind, gathered per event loop and run as ONE statement per
    batch, on the loop itself (:class:`LoopReads`).

    A read by key paid, per request on PostgreSQL, a hand-off to a worker thread and back
    and the driver's execute: most of a GET's cost beyond SQLite's (docs/benchmarks.md,
    "GET bill run on PostgreSQL (session 6, pgget)"); session 6 gathered the reads into
    one statement per batch on a reader thread, and this runs that batch as a task of the
    loop, on an async connection (session 7). A read that finds fewer than ``running``
    batches out starts one (a task that takes, when it first runs, every read the loop's
    current round brought: no waiting for company beyond that); reads that come while
    the batches are out wait and go together in the next.

    ``many(reads, keys)`` answers every key, in order, in one statement. When it raises,
    each key of the batch is read again on its own (``many`` with that key alone), so a
    read that fails fails alone (its connection was closed by :class:`LoopReads`).
    """

    def __init__(
        self,
        reads: DirectReads,
        many: Callable[[LoopReads, list[K]], Awaitable[list[R]]],
        *,
        running: int = 1,
        most: int = 128,
    ) -> None:
        self._reads = reads
        self._many = many
        self._running = running
        self._most = most
        self._pending: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pending[K, R]] = (
            weakref.WeakKeyDictionary()
        )

    def close(self) -> None:
        self._pending = weakref.WeakKeyDictionary()

    async def read(self, key: K) -> R:
        loop = asyncio.get_running_loop()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = _Pending(self._reads.on_loop(loop))
        future: asyncio.Future[R] = loop.create_future()
        pending.waiting.append((key, future))
        if not pending.starting and pending.running < self._running:
            pending.starting = True
            pending.running += 1
            task = loop.create_task(self._batches(pending))
            pending.tasks.add(task)
            task.add_done_callback(pending.tasks.discard)
        return await future

    async def _batches(self, pending: _Pending[K, R]) -> None:
        """Batch after batch while reads wait, then end."""
        try:
            while True:
                pending.starting = False
                waiting = pending.waiting
                if not waiting:
                    return
                batch = waiting[: self._most]
                del waiting[: self._most]
                await self._batch(pending.reads, batch)
        finally:
            pending.running -= 1
            if pending.waiting and not pending.starting and pending.running < self._running:
                # A batch ended by a cancellation: the reads left still get theirs.
                pending.starting = True
                pending.running += 1
                task = asyncio.get_running_loop().create_task(self._batches(pending))
                pending.tasks.add(task)
                task.add_done_callback(pending.tasks.discard)

    async def _batch(self, reads: LoopReads, batch: list[tuple[K, asyncio.Future[R]]]) -> None:
        keys = [key for key, _ in batch]
        try:
            try:
                outcomes: list[Any] = list(await self._many(reads, keys))
                ok = [True] * len(keys)
            except Exception as exc:
                if len(keys) == 1:
                    outcomes, ok = [exc], [False]
                else:
                    outcomes, ok = [], []
                    for key in keys:
                        try:
                            outcomes.append((await self._many(reads, [key]))[0])
                            ok.append(True)
                        except Exception as alone:
                            outcomes.append(alone)
                            ok.append(False)
        except BaseException as exc:  # cancelled (the loop is shutting down)
            for _, future in batch:
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            raise
        for (_, future), outcome, fine in zip(batch, outcomes, ok, strict=True):
            if future.done():  # its request was cancelled (the client went away)
                continue
            if fine:
                future.set_result(outcome)
            else:
                future.set_exception(outcome)


def documents_as_text(connection: Any) -> None:
    """A psycopg connection of these reads gives JSON documents as their text, as SQLite
    does: psycopg parsed every document of every row it read (seven columns of a bill
    run's row, each GET), where a kept answer only needs to see that the row's text is
    the same; a document is parsed when an answer is built from it
    (:meth:`DirectSelect.processed`)."""
    for name in ("json", "jsonb"):
        connection.adapters.register_loader(name, TextLoader)


class DirectSelect:
    """One ``Select`` compiled for one dialect, for :meth:`DirectReads.first`."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        # The statement's own values (a literal LIMIT's OFFSET 0, ...): the caller gives
        # the others by name.
        self._defaults: dict[str, Any] = {
            name: bind.effective_value
            for bind, name in compiled.bind_names.items()
            if not bind.required
        }
        positions: Sequence[str] | None = compiled.positiontup
        self._positions: tuple[str, ...] | None = (
            tuple(positions) if dialect.positional and positions is not None else None
        )
        self._columns = [(column[0], column[3]) for column in compiled._result_columns]
        self.keys: tuple[str, ...] = tuple(name for name, _ in self._columns)
        self.position: dict[str, int] = {name: index for index, name in enumerate(self.keys)}
        # A processed row, its values by the statement's column names.
        self.row_type: Callable[..., Any] = namedtuple("DirectRow", self.keys)  # type: ignore[misc]
        # Columns whose driver values may be JSON documents (lists, dicts): see same_row.
        self._documents = tuple(
            index
            for index, (_, type_) in enumerate(self._columns)
            if isinstance(type_._type_affinity, type) and issubclass(type_._type_affinity, JSON)
        )
        # Per column, SQLAlchemy's result processor (None: the value as the driver gives
        # it), learned from the driver's column types at the first row.
        self.processors: list[Callable[[Any], Any] | None] | None = None

    def same_row(self, a: Sequence[Any], b: Sequence[Any]) -> bool:
        """Whether two rows of this statement hold the same values, type for type: Python's
        ``==`` alone takes ``1``, ``1.0`` and ``True`` for one another, which a JSON
        document the driver parsed (PostgreSQL) would write differently."""
        if a != b:
            return False
        for index in self._documents:
            value = a[index]
            if isinstance(value, list | dict) and not _identical(value, b[index]):
                return False
        return True

    def arguments(self, params: dict[str, Any]) -> Any:
        values = {**self._defaults, **params}
        if self._positions is None:
            return values
        return tuple(values[name] for name in self._positions)

    def learn(self, dialect: Any, description: Sequence[Sequence[Any]]) -> None:
        processors: list[Callable[[Any], Any] | None] = [
            type_._cached_result_processor(dialect, column[1])
            for (_, type_), column in zip(self._columns, description, strict=True)
        ]
        if dialect.name == "postgresql":
            # The driver would have parsed these (SQLAlchemy leaves them to it); on these
            # connections it gives their text (documents_as_text).
            loads = dialect._json_deserializer or json.loads
            for index in self._documents:
                if processors[index] is None:
                    processors[index] = partial(_document, loads)
        self.processors = processors

    def processed(self, row: Sequence[Any]) -> Any:
        """The row as a ``Session`` would have returned it (values by column name)."""
        processors = self.processors or [None] * len(row)
        return self.row_type(
            *(
                value if processor is None else processor(value)
                for processor, value in zip(processors, row, strict=True)
            )
        )


def _document(loads: Callable[[str], Any], value: str | None) -> Any:
    return None if value is None else loads(value)


def _identical(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_identical(value, b[key]) for key, value in a.items())
    return bool(a == b)


def _close_idle(idle: deque[tuple[Any, float]], close: Callable[[Any], None]) -> None:
    """Close the idle (connection, since) pairs, newest first; a pop that another thread
    took first ends it."""
    while idle:
        try:
            connection, _ = idle.pop()
        except IndexError:
            break
        close(connection)
