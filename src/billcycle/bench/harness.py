"""What every benchmark shares: a database and a fresh tenant, the in-process API, the
workers that do the work, and a stopwatch that also watches the workers' memory.

The production path is driven as a client would: HTTP calls into the real ASGI app
(``TestClient``, in-process) with a real OAuth token, and the same workers as in
production: the embedded worker thread on SQLite, ``billcycle worker`` processes on
PostgreSQL (started before the clock starts, so start-up is not timed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

import billcycle.tasks  # noqa: F401  (registers the background work benchmarks run)
from billcycle.config import get_settings
from billcycle.db import migrate
from billcycle.db.engine import normalize_url
from billcycle.db.session import unit_of_work
from billcycle.devtools.dataset import Dataset, DatasetSpec, load, vacuum_analyze
from billcycle.gateways.test_gateway import book_path
from billcycle.jobs import wiring
from billcycle.runtime import Runtime, build_runtime
from billcycle.tenancy.service import NewTenant, create_tenant
from billcycle.web.app import create_app

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

POLL_SECONDS = 0.05
SAMPLE_SECONDS = 0.1
RSS_SAMPLES_SHOWN = 12
WORKER_START_TIMEOUT = 60.0


class BenchError(RuntimeError):
    """The benchmark could not run (not a wrong result: those are reported, not raised)."""


@dataclass(frozen=True)
class BenchConfig:
    database_url: str | None = None  # None: a fresh SQLite file, removed afterwards
    workers: int = 1  # `billcycle worker` processes (PostgreSQL)
    chunk_size: int | None = None  # accounts per bill-run chunk (default: settings)
    timeout: float = 1800.0  # seconds for one timed phase
    bulk_job_record_limit: int = 1000
    keep_database: bool = False
    # Drop and re-create the named database (PostgreSQL) or file (SQLite) first.
    fresh_database: bool = False
    # The bench tenant runs on its own test clock (billcycle.testclocks).
    sandbox: bool = False


def is_postgres_url(url: str) -> bool:
    return make_url(normalize_url(url)).get_backend_name() == "postgresql"


def ensure_postgres_database(url: str, *, fresh: bool = False) -> None:
    """Create the database named in ``url`` if the server does not have it yet (with
    ``fresh``, drop it first: every byte in it is lost)."""
    parsed = make_url(normalize_url(url))
    name = parsed.database
    if not name:
        raise BenchError(f"{url}: no database name")
    admin = parsed.set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            if fresh:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise BenchError(f"PostgreSQL at {parsed.host}:{parsed.port} is not usable: {exc}") from exc


def postgres_reachable(url: str) -> bool:
    try:
        ensure_postgres_database(url)
    except BenchError:
        return False
    return True


# -- CPU ------------------------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds process ``pid`` has used (Linux ``/proc``); None for a
    process that is gone or a system without ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


# -- memory -----------------------------------------------------------------------------------


def _status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def rss_mb(pid: int) -> float | None:
    kb = _status_kb(pid, "VmRSS")
    return None if kb is None else kb / 1024


def peak_rss_mb(pid: int) -> float | None:
    """The process's high-water mark of resident memory (VmHWM)."""
    kb = _status_kb(pid, "VmHWM")
    return None if kb is None else kb / 1024


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux: ``5`` into ``clear_refs``), so a peak
    measured afterwards belongs to the timed work, not to what ran before it."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


class RssSampler:
    """Samples the largest RSS among ``pids`` every ``interval`` seconds in a thread."""

    def __init__(self, pids: Sequence[int], interval: float = SAMPLE_SECONDS) -> None:
        self._pids = list(pids)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)
        self.samples: list[float] = []

    def _run(self) -> None:
        while True:
            values = [v for v in (rss_mb(pid) for pid in self._pids) if v is not None]
            if values:
                self.samples.append(max(values))
            if self._stop.wait(self._interval):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def shown(self, count: int = RSS_SAMPLES_SHOWN) -> list[float]:
        """A short, evenly spaced selection of the samples (first and last included)."""
        samples = self.samples
        if len(samples) <= count:
            return [round(s, 1) for s in samples]
        step = (len(samples) - 1) / (count - 1)
        return [round(samples[round(i * step)], 1) for i in range(count)]


# -- workers ----------------------------------------------------------------------------------


class Workers(Protocol):
    kind: str

    def pids(self) -> list[int]: ...

    def check(self) -> None:
        """Raise BenchError when a worker has died."""
        ...


class EmbeddedWorkers:
    """SQLite: the worker thread of this very process (as in ``billcycle serve``)."""

    kind = "embedded"

    def pids(self) -> list[int]:
        return [os.getpid()]

    def check(self) -> None:
        return None


class ProcessWorkers:
    """PostgreSQL: ``billcycle worker`` subprocesses sharing the procrastinate queue."""

    kind = "process"

    def __init__(self, database_url: str, count: int, env: dict[str, str], log_dir: Path):
        self.database_url = database_url
        self.count = count
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def _log(self, index: int) -> Path:
        return self.log_dir / f"worker-{index}.log"

    def _tail(self, index: int) -> str:
        try:
            return self._log(index).read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def check(self) -> None:
        for index, proc in enumerate(self.procs):
            if proc.poll() is not None:
                raise BenchError(
                    f"billcycle worker {proc.pid} exited with {proc.returncode}:\n"
                    + self._tail(index)
                )

    def _registered_since(self, first_id: int) -> int:
        with psycopg.connect(_conninfo(self.database_url), autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM procrastinate_workers WHERE id > %s", (first_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    def _last_worker_id(self) -> int:
        with psycopg.connect(_conninfo(self.database_url), autocommit=True) as conn:
            row = conn.execute("SELECT coalesce(max(id), 0) FROM procrastinate_workers").fetchone()
        return int(row[0]) if row else 0

    def start(self) -> None:
        before = self._last_worker_id()
        env = {
            **os.environ,
            **self.env,
            "BILLCYCLE_DATABASE_URL": self.database_url,
            "BILLCYCLE_LOG_LEVEL": "warning",
        }
        for index in range(self.count):
            log = self._log(index).open("wb")
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "billcycle.cli.main", "worker"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            log.close()
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while self._registered_since(before) < self.count:
            self.check()
            if time.monotonic() > deadline:
                raise BenchError(f"{self.count} billcycle worker(s) did not start in time")
            time.sleep(0.1)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _conninfo(url: str) -> str:
    from billcycle.jobs.queue import conninfo

    return conninfo(url)


# -- the stopwatch ----------------------------------------------------------------------------


@dataclass
class Timing:
    wall_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    peak_rss_mb_per_worker: list[float] = field(default_factory=list)
    rss_samples_mb: list[float] = field(default_factory=list)
    peak_reset: bool = True


class Stopwatch:
    """Times a block and records the workers' memory meanwhile: peak RSS per worker
    (VmHWM, reset when the block starts) and a sampled RSS curve (its flatness shows
    whether the work streams or accumulates)."""

    def __init__(self, workers: Workers) -> None:
        self.workers = workers
        self.timing = Timing()
        self._sampler = RssSampler(workers.pids())
        self._t0 = 0.0

    def __enter__(self) -> Timing:
        self.timing.peak_reset = all([reset_peak_rss(pid) for pid in self.workers.pids()])
        self._sampler.__enter__()
        self._t0 = time.perf_counter()
        return self.timing

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.timing.wall_seconds = time.perf_counter() - self._t0
        self._sampler.__exit__()
        peaks = [v for v in (peak_rss_mb(pid) for pid in self.workers.pids()) if v is not None]
        if not self.timing.peak_reset and self._sampler.samples:
            peaks = [max(self._sampler.samples)]  # the sampled peak is the better estimate
        self.timing.peak_rss_mb_per_worker = [round(p, 1) for p in peaks]
        self.timing.peak_rss_mb = round(max(peaks, default=0.0), 1)
        self.timing.rss_samples_mb = self._sampler.shown()


# -- the bench --------------------------------------------------------------------------------


class Bench:
    """A migrated database, a fresh tenant (bulk jobs on), the in-process API with a
    token, and a way to start the workers. Use as a context manager."""

    def __init__(self, config: BenchConfig) -> None:
        self.config = config
        self._stack = ExitStack()
        self._tmp: Path | None = None
        self.database_url = ""
        self.runtime: Runtime
        self.tenant: NewTenant
        self.client: TestClient
        self.token = ""

    # -- set-up ---------------------------------------------------------------------------

    def __enter__(self) -> Bench:
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stack.close()

    def _open(self) -> None:
        self._tmp = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        url = self.config.database_url
        if url is None:
            directory = self._tmp
            if self.config.keep_database:
                directory = Path(tempfile.mkdtemp(prefix="bench-db-"))
            url = f"sqlite:///{directory / 'bench.db'}"
        elif is_postgres_url(url):
            ensure_postgres_database(url, fresh=self.config.fresh_database)
        elif self.config.fresh_database:
            path = make_url(url).database
            # The test gateway's charge book beside it goes too (its keys would answer
            # the fresh database's payments: ``gateways.test_gateway.book_path``).
            for file in (path, book_path(path)) if path else ():
                for suffix in ("", "-wal", "-shm"):
                    Path(file + suffix).unlink(missing_ok=True)
        self.database_url = url
        migrate.upgrade(url)
        updates: dict[str, Any] = {
            "database_url": url,
            "log_level": "warning",
            # A million-id bulk job is a ~10 MB body.
            "max_body_bytes": 256 * 1024 * 1024,
            "access_token_ttl_seconds": 7 * 86400,
        }
        if self.config.chunk_size:
            updates["bill_run_chunk_size"] = self.config.chunk_size
            updates["bulk_job_chunk_size"] = self.config.chunk_size
            updates["payment_run_chunk_size"] = self.config.chunk_size
            updates["payment_run_chunk_size_sqlite"] = self.config.chunk_size
        settings = get_settings().model_copy(update=updates)
        self.runtime = build_runtime(settings)
        self._stack.callback(self.runtime.dispose)
        with unit_of_work(self.runtime.session_factory) as session:
            self.tenant = create_tenant(
                session,
                self.runtime.clock,
                f"bench-{uuid.uuid4().hex[:8]}",
                bulk_jobs=True,
                bulk_job_record_limit=max(1, self.config.bulk_job_record_limit),
                sandbox=self.config.sandbox,
            )
        app = create_app(self.runtime)
        with warnings.catch_warnings():
            # Starlette's notice about its httpx-based client; nothing to act on here.
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient
        self.client = self._stack.enter_context(TestClient(app, raise_server_exceptions=True))
        response = self.client.post(
            "/zuora/oauth/token",
            data={
                "client_id": self.tenant.client_id,
                "client_secret": self.tenant.client_secret,
                "grant_type": "client_credentials",
            },
        )
        if response.status_code != 200:
            raise BenchError(f"OAuth token: {response.status_code} {response.text[:300]}")
        self.token = response.json()["access_token"]

    @property
    def is_postgres(self) -> bool:
        return wiring.is_postgres(self.runtime)

    @property
    def database(self) -> str:
        return "postgresql" if self.is_postgres else "sqlite"

    @property
    def tenant_id(self) -> int:
        return self.tenant.tenant_id

    # -- data -----------------------------------------------------------------------------

    def load(self, spec: DatasetSpec) -> tuple[Dataset, float]:
        """Build the data set with the bulk loader (one transaction), then let PostgreSQL
        vacuum and analyze it; returns it and the seconds it took (not part of any
        benchmark's figure)."""
        started = time.perf_counter()
        with unit_of_work(self.runtime.session_factory) as session:
            dataset = load(session, self.tenant_id, spec)
        vacuum_analyze(self.runtime.engine)
        return dataset, time.perf_counter() - started

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.runtime.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def row(self, sql: str, **params: Any) -> Any:
        with self.runtime.engine.connect() as conn:
            return conn.execute(text(sql), params).one()

    # -- API ------------------------------------------------------------------------------

    @property
    def zuora_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def fusebill_headers(self) -> dict[str, str]:
        return {"Authorization": f"Basic {self.tenant.api_key}"}

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        fusebill: bool = False,
    ) -> Any:
        headers = self.fusebill_headers if fusebill else self.zuora_headers
        if content is not None:
            headers = {**headers, "Content-Type": "application/json"}
        response = self.client.request(method, path, json=json, content=content, headers=headers)
        if response.status_code != 200:
            raise BenchError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json()

    # -- workers --------------------------------------------------------------------------

    @contextmanager
    def workers(self) -> Iterator[Workers]:
        """The production workers for this database, running until the block ends."""
        if not self.is_postgres:
            with wiring.embedded_worker(self.runtime):
                yield EmbeddedWorkers()
            return
        assert self._tmp is not None
        env = {
            "BILLCYCLE_BILL_RUN_CHUNK_SIZE": str(self.runtime.settings.bill_run_chunk_size),
            "BILLCYCLE_BULK_JOB_CHUNK_SIZE": str(self.runtime.settings.bulk_job_chunk_size),
            "BILLCYCLE_PAYMENT_RUN_CHUNK_SIZE": str(self.runtime.settings.payment_run_chunk_size),
            "BILLCYCLE_PAYMENT_RUN_IN_FLIGHT": str(self.runtime.settings.payment_run_in_flight),
        }
        processes = ProcessWorkers(self.database_url, max(1, self.config.workers), env, self._tmp)
        with wiring.procrastinate_dispatch(self.runtime):
            try:
                processes.start()
                yield processes
            finally:
                processes.stop()

    def wait_for(
        self,
        status: Callable[[], str | None],
        done: Sequence[str],
        *,
        workers: Workers,
        failed: Sequence[str] = (),
        what: str = "the run",
    ) -> str:
        """Poll ``status()`` every 50 ms until it is one of ``done`` (returned), one of
        ``failed`` or the timeout (BenchError)."""
        deadline = time.monotonic() + self.config.timeout
        while True:
            current = status()
            if current in done:
                assert current is not None
                return current
            if current in failed:
                raise BenchError(f"{what} ended {current}")
            workers.check()
            if time.monotonic() > deadline:
                raise BenchError(f"{what} still {current} after {self.config.timeout:.0f} s")
            time.sleep(POLL_SECONDS)


def per_second(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0
