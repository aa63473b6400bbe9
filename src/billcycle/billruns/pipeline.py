"""Both cores for a SQLite bill run: a helper process prepares chunk N+1 while this
process writes chunk N.

SQLite has one writer, and a chunk's reading, rating and formatting used to run under
its lock, on one core. A thread could not take that work over (the GIL serialises the
two threads' per-row hand-offs: docs/benchmarks.md, "Bill-run speed, third round"), so
the work goes to a **process**: one helper per worker process, started by the first
chunk of a run big enough to gain from it, reading from its own connection (WAL:
readers never block the writer), and leaving each prepared chunk in a scratch SQLite
file rather than sending its rows through a pipe (unpickling 200,000 item tuples would
cost the writer as much as formatting them). What the writer does with a prepared chunk,
and why it bills nothing twice or stale, is ``invoicing.prepared``'s docstring.

The protocol is one request in flight: at the start of chunk N the writer takes the
helper's answer for chunk N (waiting for it if need be) and asks for the run's next
pending chunk. Anything unexpected (the helper not started yet, busy with another
chunk, dead, slow, failing) makes the chunk take the ordinary path; a helper that
failed is replaced at most ``MAX_RESTARTS`` times in a process's life. Durability does
not depend on the helper at all: a prepared chunk is scratch until the writer's own
transaction commits it, and a worker killed at any moment leaves its chunk to be
claimed again, as before. The helper exits when the worker process's end of the pipe
closes (the worker exited or was killed).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from billcycle import phases
from billcycle.billruns import repository as repo
from billcycle.billruns.selection import Selection
from billcycle.context import ServiceContext
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory, unit_of_work
from billcycle.ids import is_ascii_digits
from billcycle.invoicing import prepared as prep
from billcycle.invoicing.generator import GenerationOptions
from billcycle.jobs.chunks import ClaimedChunk

log = logging.getLogger(__name__)

# A run of fewer chunks has little to overlap, and the helper's start (a new Python
# importing billcycle: about a second) would not pay for itself.
MIN_CHUNKS = 3
# How long the writer waits for an answer it asked for before giving the helper up.
ANSWER_SECONDS = 120.0
MAX_RESTARTS = 3
_READY = "ready"


@dataclass(frozen=True)
class _Request:
    token: int
    database_url: str
    tenant_id: int
    run_id: int
    first_id: int
    last_id: int
    selection: Selection
    options: GenerationOptions
    stage_path: str


@dataclass(frozen=True)
class _Answer:
    token: int
    prepared: prep.PreparedChunk | None
    error: str | None = None


def _database_file(session: Session) -> str | None:
    """The URL the helper opens, when the database is a file it can open too."""
    engine = session.get_bind()
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return engine.url.render_as_string(hide_password=False)


class Pipeline:
    """This process's helper and the one request it has in flight."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Connection | None = None
        self._ready = False
        self._pending: _Request | None = None
        self._tokens = itertools.count(1)
        self._directory: str | None = None
        self._done_with: list[str] = []
        self._starts = 0
        # Chunks written from the helper's rows, and prepared chunks found stale under
        # the writer's lock (and generated the ordinary way): this process's counts.
        self.chunks_prepared = 0
        self.chunks_stale = 0

    def exchange(
        self,
        ctx: ServiceContext,
        kind: str,
        chunk: ClaimedChunk,
        chunks_total: int,
        selection: Selection,
        options: GenerationOptions,
    ) -> prep.PreparedChunk | None:
        """This chunk's prepared rows, if the helper has them (None: generate it the
        ordinary way), after asking the helper for the run's next chunk."""
        if chunks_total < MIN_CHUNKS or not prep.can_prepare(ctx.session, options):
            return None
        url = _database_file(ctx.session)
        if url is None or not self._lock.acquire(blocking=False):
            return None  # another thread of this process has the helper
        try:
            return self._exchange(ctx, url, kind, chunk, selection, options)
        except Exception:
            log.exception("the bill-run helper failed; chunks take the ordinary path")
            self._stop()
            return None
        finally:
            self._lock.release()

    def _exchange(
        self,
        ctx: ServiceContext,
        url: str,
        kind: str,
        chunk: ClaimedChunk,
        selection: Selection,
        options: GenerationOptions,
    ) -> prep.PreparedChunk | None:
        self._forget_used()
        if not self._running():
            self._start()
            return None
        assert self._conn is not None
        if not self._ready:
            while self._conn.poll():
                if self._conn.recv() == _READY:
                    self._ready = True
            if not self._ready:
                return None  # still starting: this chunk goes the ordinary way
        mine = None
        pending, self._pending = self._pending, None
        if pending is not None:
            answer = self._answer(pending.token)
            self._done_with.append(pending.stage_path)
            if answer.error is not None:
                log.warning("the bill-run helper could not prepare a chunk: %s", answer.error)
            if (pending.run_id, pending.first_id, pending.last_id) == (
                chunk.parent_id,
                chunk.first_id,
                chunk.last_id,
            ):
                mine = answer.prepared
        following = repo.next_chunk_range(ctx.session, kind, chunk.parent_id, chunk.seq)
        if following is not None:
            assert self._directory is not None
            token = next(self._tokens)
            request = _Request(
                token=token,
                database_url=url,
                tenant_id=ctx.tenant_id,
                run_id=chunk.parent_id,
                first_id=following[0],
                last_id=following[1],
                selection=selection,
                options=options,
                stage_path=os.path.join(self._directory, f"chunk-{token}.db"),
            )
            self._conn.send(request)
            self._pending = request
        return mine

    def _answer(self, token: int) -> _Answer:
        assert self._conn is not None
        deadline = time.monotonic() + ANSWER_SECONDS
        while True:
            if not self._conn.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"no answer from the bill-run helper in {ANSWER_SECONDS} s")
            message = self._conn.recv()
            if isinstance(message, _Answer) and message.token == token:
                return message

    def _running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def warm_up(self, session: Session, chunks_total: int) -> None:
        """Start the helper as a run begins, so that it has imported billcycle (about a
        second of CPU) by the time the run's first chunks are written."""
        if chunks_total < MIN_CHUNKS or _database_file(session) is None:
            return
        if self._lock.acquire(blocking=False):
            try:
                if not self._running():
                    self._start()
            finally:
                self._lock.release()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the helper (started by ``warm_up``) has started; whether it has."""
        with self._lock:
            deadline = time.monotonic() + timeout
            while self._conn is not None and not self._ready:
                if not self._conn.poll(max(0.0, deadline - time.monotonic())):
                    break
                if self._conn.recv() == _READY:
                    self._ready = True
            return self._ready

    def _start(self) -> None:
        self._stop()
        if self._starts >= MAX_RESTARTS:
            return
        self._starts += 1
        if self._directory is None:
            self._directory = _scratch_directory()
            atexit.register(shutil.rmtree, self._directory, True)
        # (A helper that exits removes the directory: see serve.)
        os.makedirs(self._directory, exist_ok=True)
        # A plain child process running this module: multiprocessing's own start methods
        # would re-import the parent's __main__ (the CLI, the web app: 3.5 s of CPU) or
        # fork a process whose other threads may hold locks.
        # In a session of its own: a terminal's Ctrl-C stops the worker, which lets the
        # helper go (EOF), instead of interrupting it mid-chunk; and where the kernel
        # groups scheduling by session (autogroup) the two processes compete for a busy
        # machine's CPU as two, like two `billcycle worker` processes would.
        mine, theirs = socket.socketpair()
        with theirs:
            process = subprocess.Popen(  # noqa: S603 (this interpreter, this module)
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._process, self._conn, self._ready = process, Connection(mine.detach()), False

    def _stop(self) -> None:
        """Let the helper go (its end of the pipe sees EOF and it exits); a helper that
        does not answer is ended."""
        process, conn = self._process, self._conn
        self._process, self._conn, self._ready = None, None, False
        if self._pending is not None:
            self._done_with.append(self._pending.stage_path)
            self._pending = None
        if conn is not None:
            conn.close()
        if process is not None:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def _forget_used(self) -> None:
        """Delete the stages of chunks whose transactions have ended."""
        for path in self._done_with:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        self._done_with.clear()

    @property
    def helper_pid(self) -> int | None:
        return self._process.pid if self._running() else None


PIPELINE = Pipeline()

_SCRATCH = "billcycle-bill-run-"


def _scratch_directory() -> str:
    """A directory for this process's stages: in shared memory where there is some
    (/dev/shm: a stage is written once and read once, never worth a disk write), else in
    the temporary directory. Directories left by processes that no longer exist (both a
    worker and its helper killed at once) are removed first."""
    shm = "/dev/shm"  # noqa: S108 (a private mkdtemp directory inside it)
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else tempfile.gettempdir()
    for old in Path(base).glob(f"{_SCRATCH}*"):
        owner = old.name[len(_SCRATCH) :].split("-")[0]
        if is_ascii_digits(owner) and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{_SCRATCH}{os.getpid()}-", dir=base)


# -- the helper process ----------------------------------------------------------------------


def serve(conn: Connection) -> None:
    """The helper's loop: prepare each requested chunk, answer, until the pipe closes."""
    phases.set_prefix("helper: ")
    factories: dict[str, tuple[Engine, sessionmaker[Session]]] = {}
    directory: str | None = None
    conn.send(_READY)
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            break
        directory = os.path.dirname(request.stage_path)
        try:
            answer = _Answer(request.token, _prepare(request, factories))
        except Exception as exc:
            log.exception("preparing bill-run chunk %s failed", request.first_id)
            answer = _Answer(request.token, None, f"{type(exc).__name__}: {exc}")
        phases.flush()
        try:
            conn.send(answer)
        except OSError:
            break
    for engine, _factory in factories.values():
        engine.dispose()
    if directory is not None:
        # The worker exited (or was killed) or let this helper go: its stages are scratch.
        shutil.rmtree(directory, ignore_errors=True)


def _prepare(
    request: _Request, factories: dict[str, tuple[Engine, sessionmaker[Session]]]
) -> prep.PreparedChunk | None:
    found = factories.get(request.database_url)
    if found is None:
        for engine, _factory in factories.values():
            engine.dispose()
        factories.clear()
        engine = make_engine(request.database_url, pool_size=1, max_overflow=1)
        found = factories[request.database_url] = (engine, make_session_factory(engine))
    phases.restart()
    with unit_of_work(found[1]) as session:
        prep.open_stage(session, request.stage_path)
        account_ids = repo.selected_accounts(
            session, request.tenant_id, request.selection, request.first_id, request.last_id
        )
        phases.lap("selection")
        return prep.prepare(
            session, request.tenant_id, account_ids, request.options, request.stage_path
        )


if __name__ == "__main__":
    # The module's own name (not __main__), so that what it pickles is what the
    # worker process unpickles.
    from billcycle.billruns import pipeline

    pipeline.serve(Connection(int(sys.argv[1])))
