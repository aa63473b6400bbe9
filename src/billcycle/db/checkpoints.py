"""SQLite: WAL checkpoints off the writer's thread, with the WAL kept bounded.

SQLite checkpoints a WAL inside the COMMIT that leaves it ``wal_autocheckpoint`` pages
(1,000 by default) or longer, on the committing connection: it copies the WAL's new
pages into the database file and syncs it while the writer waits. A payment run's
worker, the one writer of a run on SQLite, commits slices of a thousand pages and more,
so nearly every commit checkpointed: ~6-9% of the worker's time, the bottleneck of the
run. A PASSIVE checkpoint needs no lock a writer or reader holds, and pysqlite releases
the GIL in ``sqlite3_step``, so here it runs in a thread of its own
(``WalCheckpointer``), on a connection of its own (the second core), woken after each
commit, at most one every ``MIN_INTERVAL_SECONDS``.

Copying is not enough to bound the WAL, though. SQLite starts the WAL over from its
first frame only when a writer *begins* a write transaction after a checkpoint that
copied the *whole* WAL, and no reader still reads an older snapshot out of it
(``walRestartLog``: the writer's snapshot must have begun with every frame backfilled,
and it must get the read-mark locks 1..N); otherwise every commit appends. A
checkpoint in another thread races the writer: the worker begins its next slice a few
milliseconds after its commit, often before the checkpointer has copied that commit's
frames, and then the WAL grows. So the bound: once the thread's checkpoint found the WAL
longer than ``limit_pages`` frames (or a commit grew the ``-wal`` file past its largest
size and the limit: ``_grew_past_limit``), the next connection of the engine that commits runs
a RESTART checkpoint itself as it goes back to the pool (``after_commit``), holding no
transaction: it copies what is left (the last commit or so), waits for readers of older
snapshots (at most ``RESTART_WAIT_MS``: a long reader pins the WAL whatever anyone
does), and the next write starts the WAL over. The WAL file keeps its largest size
(SQLite overwrites it from the start rather than truncating it): about ``limit_pages``,
plus what is committed between two of the thread's checkpoints and before the restart
takes effect. Writer connections keep SQLite's own checkpoint in the commit at twice the
limit, for a connection that commits many times without going back to the pool.

The WAL's length is what the thread's last checkpoint answered (``PRAGMA
wal_checkpoint`` returns it). It is not read from the ``-shm`` file: SQLite's locks are
POSIX locks, and closing any descriptor of that file in this process would release the
locks of all its connections on it (another process then takes the WAL-index for
abandoned and rebuilds it under their mapping: a bill run's helper process did, and the
server died of SIGBUS). In-memory databases have no WAL; PostgreSQL has its own
checkpointer.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from typing import Any

log = logging.getLogger(__name__)

# The thread's checkpoints are this far apart at least (a server committing small
# writes one after another syncs the file a few times a second, not at each commit).
MIN_INTERVAL_SECONDS = 0.1
# How long the checkpointer's thread waits for a commit before it ends (and closes its
# connection); the next writing commit starts it again.
IDLE_SECONDS = 10.0
# At most this long a committing connection's RESTART checkpoint waits for readers of
# older snapshots (and another process's checkpoint) before it gives up until its next
# commit: the commit already returned, so the wait is the writer's time lost.
RESTART_WAIT_MS = 200
# The checkpointer's own busy timeout: PASSIVE never waits for readers or writers, only
# for the recovery of the wal-index of a database another process just opened.
_CHECKPOINTER_BUSY_MS = 1_000


# The WAL file's header and each frame's (https://sqlite.org/fileformat2.html#walformat).
_WAL_HEADER = 32
_FRAME_HEADER = 24

# Every checkpointer of this process, for the fork handler below.
_ALL: weakref.WeakSet[WalCheckpointer] = weakref.WeakSet()


class WalCheckpointer:
    """The WAL checkpoints of one SQLite database file for one engine: PASSIVE ones in a
    thread of its own after writing commits, and a bound (see the module's note)."""

    def __init__(self, database: str, limit_pages: int, writer_busy_ms: int) -> None:
        self.database = database
        self.limit_pages = limit_pages
        self._writer_busy_ms = writer_busy_ms
        self._wal = f"{database}-wal"
        self.page_size = 4096  # the engine's connect listener sets the file's
        # The WAL file's largest size seen after a commit: it grows only when a commit
        # appends past every earlier frame.
        self._largest_file = 0
        self._wake = threading.Event()
        self._guard = threading.Lock()  # the thread's start and stop
        # Held over each checkpoint run in this process: SQLite lets one checkpoint run at
        # a time and answers SQLITE_BUSY at once, without its busy handler, to a second.
        self._checkpointing = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False
        # Past the limit at the thread's last checkpoint: the next commit restarts the WAL.
        self._over = False
        # The WAL's length when a committing connection last restarted it: until the next
        # write starts it over, a checkpoint still answers that length.
        self._restarted_at = -1
        # After a RESTART that readers kept from completing, the next is tried only once
        # the WAL has grown this far (each try can cost the writer RESTART_WAIT_MS).
        self._next_try = 0
        # What the checkpoints did, for tests and benchmarks: the thread's checkpoints,
        # the committing connections' restarts, the WAL's length at the last checkpoint
        # and the longest seen (frames).
        self.passes = 0
        self.restarts = 0
        self.last_wal = 0
        self.longest_wal = 0
        _ALL.add(self)

    def _forked(self) -> None:
        # A forked child has none of the parent's threads, and a lock one of them held
        # stays held: a child's checkpointer starts afresh.
        self._guard = threading.Lock()
        self._checkpointing = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self._stopped = False

    def after_commit(self, dbapi_connection: Any) -> None:
        """A connection of the engine committed and holds no transaction now: past the
        bound (at the thread's last checkpoint) it restarts the WAL itself; then the
        thread copies what the commit added."""
        if self._over or self._grew_past_limit():
            self._restart(dbapi_connection)
        self.wake()

    def _grew_past_limit(self) -> bool:
        """The WAL file grew past its largest size so far, to more than the limit (and
        past where a restart readers kept from completing is tried again): the commit
        appended there, and the file's size is the WAL's length. A ``stat``, no
        descriptor opened (see the module's note on the ``-shm`` file)."""
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return False
        grew = size > self._largest_file
        self._largest_file = max(self._largest_file, size)
        frames = (size - _WAL_HEADER) // (self.page_size + _FRAME_HEADER)
        return grew and frames > self.limit_pages and frames >= self._next_try

    def wake(self) -> None:
        """Ask for a PASSIVE checkpoint soon (the thread starts if it is not running)."""
        self._wake.set()
        if self._thread is None:
            with self._guard:
                if self._thread is None and not self._stopped:
                    self._thread = threading.Thread(
                        target=self._run, name="sqlite-wal-checkpoint", daemon=True
                    )
                    self._thread.start()

    def stop(self) -> None:
        """End the thread (its connection closed): the engine was disposed, its files may
        go away. The engine's next writing commit starts it again."""
        with self._guard:
            self._stopped = True
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._guard:
            self._stopped = False
            self._wake.clear()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            connection = sqlite3.connect(
                self.database, isolation_level=None, check_same_thread=False, timeout=0
            )
            connection.execute(f"PRAGMA busy_timeout={_CHECKPOINTER_BUSY_MS}")
            last = 0.0
            while True:
                if not self._wake.wait(IDLE_SECONDS):
                    with self._guard:
                        if not self._wake.is_set():
                            self._thread = None
                            return
                pause = last + MIN_INTERVAL_SECONDS - time.monotonic()
                if pause > 0 and not self._stopped:
                    time.sleep(pause)  # commits meanwhile are copied by this pass
                self._wake.clear()
                if self._stopped:
                    return
                with self._checkpointing:
                    _busy, frames, _copied = connection.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    ).fetchone()
                last = time.monotonic()
                self._passed(frames)
        except Exception:
            log.exception("WAL checkpoints of %s: the checkpointer stopped", self.database)
        finally:
            if connection is not None:
                connection.close()
            with self._guard:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _passed(self, frames: int) -> None:
        self.passes += 1
        if frames < 0:  # not in WAL mode
            return
        self.last_wal = frames
        self.longest_wal = max(self.longest_wal, frames)
        if frames <= self.limit_pages:
            self._next_try = 0
        self._over = (
            frames > self.limit_pages and frames != self._restarted_at and frames >= self._next_try
        )

    def _restart(self, dbapi_connection: Any) -> None:
        if dbapi_connection.in_transaction:
            return
        dbapi_connection.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
        try:
            with self._checkpointing:
                busy, frames, copied = dbapi_connection.execute(
                    "PRAGMA wal_checkpoint(RESTART)"
                ).fetchone()
        finally:
            dbapi_connection.execute(f"PRAGMA busy_timeout={self._writer_busy_ms}")
        self._over = False
        if not busy and copied == frames:
            self.restarts += 1
            self._restarted_at = frames  # the next write starts the WAL over
        else:
            self._next_try = frames + self.limit_pages // 4


def _after_fork_in_child() -> None:
    for checkpointer in list(_ALL):
        checkpointer._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)
