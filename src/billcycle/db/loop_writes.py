"""Whole units of work that are ONE statement, sent by the event loop itself (PostgreSQL).

A write through ``web.units.Units.write`` paid, per request, a hand-off to a writer
thread and back (the loop's wake-up, the GIL passed between the two at every round trip),
an ORM ``Session`` with its transaction, pool checkout and checkin, and BEGIN and COMMIT
round trips around its statements: on PostgreSQL most of a POST /accounts' CPU
(docs/benchmarks.md, "POST accounts on PostgreSQL (session 8, pgpost)"). A unit of work
whose every row is written by one statement needs none of it: the statement runs in
autocommit (it is its own transaction: all of it or nothing), on one of a few psycopg
async connections of the engine kept per event loop, and the loop serves other requests
until its answer is on the socket.

:class:`LoopStatements` keeps those connections (made with the engine's own connect
arguments, as ``db.direct.LoopReads`` makes its own: the two never share one, so a
read's connection never carries a write); a connection whose statement raised (or was
cancelled) is closed, not kept; one idle for longer than the engine's ping delay is
pinged first; all are closed when the engine is disposed or the loop is gone. At most
``connections`` statements are out at once per loop (the others wait on the loop, holding
nothing), as the writer threads were.

:class:`CompiledWrite` is one SQLAlchemy statement compiled once for the dialect, its
parameters made as SQLAlchemy's execution would (its bind processors: time stamps,
documents), so rows come out as through a ``Session``. The engine's
``before_cursor_execute`` listeners see each statement (with no SQLAlchemy connection),
as they see ``db.direct``'s.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy.sql import ClauseElement

from billcycle.db.engine import PING_AFTER_IDLE_SECONDS

# Statements out at once per event loop (each on a connection of its own): as many as
# the writer threads a PostgreSQL server process ran (web.units.WRITE_THREADS) and more,
# since a statement waiting here holds no thread.
CONNECTIONS = 8

_STATEMENTS: weakref.WeakKeyDictionary[Engine, LoopStatements] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def loop_statements(engine: Engine) -> LoopStatements:
    """``engine``'s one-statement units of work (made on first use; PostgreSQL only)."""
    found = _STATEMENTS.get(engine)
    if found is None:
        with _GUARD:
            found = _STATEMENTS.get(engine)
            if found is None:
                found = _STATEMENTS[engine] = LoopStatements(engine)
    return found


_NAMED = re.compile(r"%\(([^)]+)\)s|%%")


class CompiledWrite:
    """One statement compiled for one dialect: its SQL, with PostgreSQL's own ``$1``
    placeholders, and how its parameters are made.

    psycopg turns ``%(name)s`` placeholders into ``$n`` itself on every execution,
    remembering the result only for statements of at most 4,096 characters and 50
    parameters: a whole account create is longer, and that parsing was ~12% of the
    server's CPU a POST. Here it is done once; the statement runs on a raw cursor."""

    def __init__(self, statement: ClauseElement, engine: Engine) -> None:
        compiled: Any = statement.compile(dialect=engine.dialect)
        self._compiled = compiled
        order: dict[str, int] = {}

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "%"
            return f"${order.setdefault(name, len(order) + 1)}"

        self.sql = _NAMED.sub(number, str(compiled))
        self._names = tuple(order)
        self._processors: dict[str, Callable[[Any], Any]] = dict(compiled._bind_processors)

    def arguments(self, params: dict[str, Any]) -> tuple[Any, ...]:
        """The driver's parameters in placeholder order (the statement's own values
        included), each through SQLAlchemy's bind processor for its type."""
        values: dict[str, Any] = self._compiled.construct_params(params, _check=False)
        processors = self._processors
        return tuple(
            processors[name](values[name]) if name in processors else values[name]
            for name in self._names
        )


class _Loop:
    """One event loop's connections."""

    def __init__(self, loop: asyncio.AbstractEventLoop, connections: int) -> None:
        self.idle: deque[tuple[Any, float]] = deque()
        self.open: set[Any] = set()
        self.slots = asyncio.Semaphore(connections)
        self.closed = False
        weakref.finalize(loop, self.close)

    def close(self) -> None:
        self.closed = True
        while self.idle:
            connection, _ = self.idle.pop()
            self.drop(connection)
        for connection in list(self.open):
            self.drop(connection)

    def drop(self, connection: Any) -> None:
        self.open.discard(connection)
        with suppress(Exception):  # a broken connection closes as far as it can
            connection.pgconn.finish()


class LoopStatements:
    """One engine's connections for one-statement units of work, per event loop."""

    def __init__(self, engine: Engine, connections: int = CONNECTIONS) -> None:
        self._engine = weakref.ref(engine)
        self._connections = connections
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Loop] = (
            weakref.WeakKeyDictionary()
        )
        self._compiled: weakref.WeakKeyDictionary[ClauseElement, CompiledWrite] = (
            weakref.WeakKeyDictionary()
        )
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        self._connect_args = (tuple(cargs), dict(cparams))
        event.listen(engine, "engine_disposed", self._on_dispose)

    def _on_dispose(self, _engine: Engine) -> None:
        self.close()

    def close(self) -> None:
        loops, self._loops = self._loops, weakref.WeakKeyDictionary()
        for state in list(loops.values()):
            state.close()

    def compiled(self, statement: ClauseElement) -> CompiledWrite:
        found = self._compiled.get(statement)
        if found is None:
            engine = self._engine()
            if engine is None:
                raise RuntimeError("the engine of these statements is gone")
            found = self._compiled[statement] = CompiledWrite(statement, engine)
        return found

    def _state(self) -> _Loop:
        loop = asyncio.get_running_loop()
        found = self._loops.get(loop)
        if found is None:
            for other, state in list(self._loops.items()):
                if other.is_closed():
                    state.close()
                    self._loops.pop(other, None)
            found = self._loops[loop] = _Loop(loop, self._connections)
        return found

    async def _take(self, state: _Loop) -> Any:
        while state.idle:
            connection, since = state.idle.pop()
            if time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
                return connection
            try:
                await connection.execute("SELECT 1")
            except Exception:
                state.drop(connection)
                continue
            return connection
        cargs, cparams = self._connect_args
        connection = await psycopg.AsyncConnection.connect(*cargs, **cparams, autocommit=True)
        state.open.add(connection)
        return connection

    async def first(self, statement: ClauseElement, params: dict[str, Any]) -> Any:
        """Run ``statement`` (its own transaction) and return its first row as the driver
        gives it (None: no row)."""
        compiled = self.compiled(statement)
        sql, args = compiled.sql, compiled.arguments(params)
        engine = self._engine()
        state = self._state()
        async with state.slots:
            connection = await self._take(state)
            try:
                cursor = psycopg.AsyncRawCursor(connection)
                if engine is not None:
                    for listener in engine.dispatch.before_cursor_execute:
                        listener(None, cursor, sql, args, None, False)
                await cursor.execute(sql, args)
                row = await cursor.fetchone()
            except BaseException:
                state.drop(connection)
                raise
            if state.closed:
                state.drop(connection)
            else:
                state.idle.append((connection, time.monotonic()))
        return row
