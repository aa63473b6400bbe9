"""Engine construction, tuned per backend.

SQLite is the embedded default: WAL lets the API read while a worker writes, and a busy
timeout turns writer contention into waiting rather than errors. PostgreSQL goes through
psycopg 3.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from billcycle import metrics
from billcycle.db.checkpoints import WalCheckpointer

# How long a SQLite writer waits for the write lock before "database is locked".
BUSY_TIMEOUT_MS = 30_000
# SQLite: how long the WAL may grow, in MB, before a committing connection restarts it
# (``db.checkpoints``; the ``sqlite_wal_limit_mb`` setting). 0: SQLite's own automatic
# checkpoints in each commit past 1,000 pages, no checkpointer thread.
WAL_LIMIT_MB = 64


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and route them to psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, *, wal_limit_mb: int = WAL_LIMIT_MB, **kwargs: Any) -> Engine:
    """``wal_limit_mb``: SQLite files only, see ``db.checkpoints`` (0: SQLite's own
    automatic checkpoints)."""
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
        event.listen(engine, "checkin", _run_checkin_hooks)
        _watch_disposal(engine)
        _watch_wishes(engine)
        _checkpoint_elsewhere(engine, wal_limit_mb)
        metrics.watch_pool(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 30)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_idle_connections(engine)
    _watch_disposal(engine)
    metrics.watch_pool(engine)
    return engine


# Per-connection work to do when a pooled connection goes back to the pool, kept in the
# connection record's ``info`` (it lives as long as the DBAPI connection). The one
# "checkin" listener that runs it is registered when the engine is made: SQLAlchemy's
# listener lists cannot grow while another thread runs a statement through them (that
# statement fails with "RuntimeError: deque mutated during iteration"), so code that
# needs a checkin step at run time (a bill run's attached stage file) adds a hook here
# instead of a listener.
CHECKIN_HOOKS = "billcycle_checkin_hooks"

CheckinHook = Callable[[Any, Any], None]


def at_checkin(info: dict[Any, Any], hook: CheckinHook) -> None:
    """Run ``hook(dbapi_connection, record)`` each time the pooled connection whose
    record ``info`` this is goes back to the pool (SQLite engines from ``make_engine``)."""
    hooks: list[CheckinHook] = info.setdefault(CHECKIN_HOOKS, [])
    if hook not in hooks:
        hooks.append(hook)


def _run_checkin_hooks(dbapi_connection: Any, record: Any) -> None:
    hooks = record.info.get(CHECKIN_HOOKS) if record is not None else None
    if hooks:
        for hook in tuple(hooks):
            hook(dbapi_connection, record)
    if record is not None and record.info.pop(_COMMITTED_WRITE, None):
        checkpointer = record.info.get(_CHECKPOINTER)
        if checkpointer is not None:
            checkpointer.after_commit(dbapi_connection)


# -- WAL checkpoints off the writer's thread (SQLite files; see ``db.checkpoints``) ---------

# The key of a pooled connection's engine's checkpointer in its record's ``info``.
_CHECKPOINTER = "billcycle_wal_checkpointer"
# Set in a connection record's ``info`` by a commit; taken at checkin, when the commit is
# done and the connection holds no transaction, to look at the WAL (a read of its index
# header: whether the commit wrote is not known, a statement pysqlite did not open a
# transaction for, ``WITH ... INSERT``, commits on its own).
_COMMITTED_WRITE = "billcycle_committed_write"


def _checkpoint_elsewhere(engine: Engine, limit_mb: int) -> None:
    database = engine.url.database
    if limit_mb <= 0 or not database or database == ":memory:" or database.startswith("file:"):
        return
    checkpointer = WalCheckpointer(os.path.abspath(database), 0, BUSY_TIMEOUT_MS)

    def connect(dbapi_connection: Any, record: Any) -> None:
        page_size = dbapi_connection.execute("PRAGMA page_size").fetchone()[0]
        checkpointer.page_size = page_size
        checkpointer.limit_pages = limit_mb * 1024 * 1024 // page_size
        # SQLite's own checkpoint in the commit, kept as a backstop for a connection that
        # commits many times without going back to the pool.
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={2 * checkpointer.limit_pages}")
        record.info[_CHECKPOINTER] = checkpointer

    def commit(conn: Any) -> None:
        conn.info[_COMMITTED_WRITE] = True

    event.listen(engine, "connect", connect)
    event.listen(engine, "commit", commit)
    at_dispose(engine, lambda _engine: checkpointer.stop())
    engine_checkpointers[engine] = checkpointer


# The checkpointer of each SQLite file engine ``make_engine`` built with one.
engine_checkpointers: weakref.WeakKeyDictionary[Engine, WalCheckpointer] = (
    weakref.WeakKeyDictionary()
)


# What to do when an engine is disposed (its direct-read connections closed), by engine.
# Like the checkin hooks: the engine's one "engine_disposed" listener is registered when
# ``make_engine`` builds it, and run-time code adds a hook, not a listener.
_DISPOSE_HOOKS: weakref.WeakKeyDictionary[Engine, list[Callable[[Engine], None]]] = (
    weakref.WeakKeyDictionary()
)
_DISPOSE_GUARD = threading.Lock()


def _watch_disposal(engine: Engine) -> None:
    with _DISPOSE_GUARD:
        _DISPOSE_HOOKS.setdefault(engine, [])
    event.listen(engine, "engine_disposed", _run_dispose_hooks)


def at_dispose(engine: Engine, hook: Callable[[Engine], None]) -> None:
    """Run ``hook(engine)`` whenever ``engine`` is disposed. An engine ``make_engine`` did
    not build gets its listener now (only then is one registered at run time)."""
    with _DISPOSE_GUARD:
        hooks = _DISPOSE_HOOKS.get(engine)
        if hooks is None:
            hooks = _DISPOSE_HOOKS[engine] = []
            event.listen(engine, "engine_disposed", _run_dispose_hooks)
        hooks.append(hook)


def _run_dispose_hooks(engine: Engine) -> None:
    with _DISPOSE_GUARD:
        hooks = tuple(_DISPOSE_HOOKS.get(engine, ()))
    for hook in hooks:
        hook(engine)


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
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
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
        wish = _wish(_WISH_FILES.get(id(dbapi_connection)))
        try:
            dbapi_connection.execute("BEGIN IMMEDIATE")
        finally:
            _unwish(wish)


def try_begin_sqlite_write(dbapi_connection: Any) -> bool:
    """Open a write transaction on a pysqlite connection only if the write lock is free
    now; False (nothing opened, nothing waited for) when another writer holds it.

    For periodic work that the next tick does as well (the webhook fan-out): waiting up
    to the busy timeout behind a long writer (a sandbox's collections day holds the lock
    for its whole unit of work) would end in "database is locked" after 30 s, logged as
    an error, for work that loses nothing by being skipped. No wish is recorded: a
    writer that does not wait has nothing to ask a long writer to pause for.
    """
    if dbapi_connection.in_transaction:
        return True
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        dbapi_connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return False
        raise
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return True


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


# -- writers' wishes (SQLite) ---------------------------------------------------------------
#
# SQLite has one writer, and a writer waiting for the lock polls for it in its busy handler
# (sleeping up to 100 ms between tries), so a bulk job committing chunk after chunk would
# starve it. Every writer of this package's engines records its wish while it waits for
# the lock: a shared ``flock`` on ``FILE-wish.lock`` held from the statement that opens a
# write transaction (``BEGIN IMMEDIATE``, or a DML statement that pysqlite opens one for)
# until that statement returns. A long writer (a bulk job's worker) looks for a wish
# before each chunk (``wait_for_waiting_writers``) and pauses only when one is there, in
# whatever process (an ``flock`` belongs to the open file description, so the threads of
# one process see each other's wishes too).

# Statements pysqlite opens a transaction for (its legacy transaction control).
_DML = frozenset({"INSERT", "UPDATE", "DELETE", "REPLAC"})
# id of a pysqlite connection -> its database's wish file (while the connection is open).
_WISH_FILES: dict[int, str] = {}


def wish_file(database: str) -> str:
    """The file whose shared locks are the writers waiting for ``database``'s write lock."""
    return f"{os.path.abspath(database)}-wish.lock"


def _wish(path: str | None) -> int | None:
    if path is None:
        return None
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _unwish(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the file releases its lock


_WISH_KEY = "billcycle_wish"


def _watch_wishes(engine: Engine) -> None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = wish_file(database)

    def connect(dbapi_connection: Any, record: Any) -> None:
        _WISH_FILES[id(dbapi_connection)] = path

    def close(dbapi_connection: Any, *_args: Any) -> None:
        _WISH_FILES.pop(id(dbapi_connection), None)

    def before(conn: Any, _cursor: Any, statement: str, *_args: Any, **_kwargs: Any) -> None:
        if (
            statement.lstrip()[:6].upper() in _DML
            and not conn.connection.dbapi_connection.in_transaction
        ):
            conn.info[_WISH_KEY] = _wish(path)

    def after(conn: Any, *_args: Any, **_kwargs: Any) -> None:
        _unwish(conn.info.pop(_WISH_KEY, None))

    def failed(context: Any) -> None:
        # No connection when the database could not be opened at all: no wish either.
        if context.connection is not None:
            _unwish(context.connection.info.pop(_WISH_KEY, None))

    event.listen(engine, "connect", connect)
    event.listen(engine, "close", close)
    event.listen(engine, "close_detached", close)
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", failed)


def wait_for_waiting_writers(engine: Engine, at_most: float = 1.0) -> bool:
    """SQLite: while another writer waits for the database's write lock, wait (at most
    ``at_most`` seconds) for it to get it; True if one was waiting. Called by a long writer
    between its transactions, holding no lock. PostgreSQL (row locks): False at once."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return False
    fd = os.open(wish_file(database), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline: float | None = None
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + at_most
                elif now >= deadline:
                    return True
                time.sleep(0.002)
                continue
            fcntl.flock(fd, fcntl.LOCK_UN)
            return deadline is not None
    finally:
        os.close(fd)
