"""``billcycle bench http``: the API under load, over loopback, for a bounded time.

A real server runs as a subprocess on a free loopback port (``billcycle serve``, or
``billcycle serve --workers N`` for several processes);
``wrk`` drives ``GET /zuora/v1/bill-runs/{id}`` and then ``POST /zuora/v1/accounts``
with 64 connections for 10 s each, after 2 s of unmeasured warm-up each (a Lua ``done``
hook reports its figures as JSON).
Without ``wrk`` the benchmark says so and measures nothing: a Python client on the
same two cores would measure itself.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from billcycle.bench import bill_run
from billcycle.bench.harness import Bench, BenchError, process_cpu_seconds
from billcycle.devtools.dataset import DatasetSpec
from billcycle.ids import is_ascii_digits, to_zuora_id
from billcycle.ratelimits.counter import WindowCounter
from billcycle.ratelimits.service import RateLimiter

SERVER_START_TIMEOUT = 60.0

# Prints the run's figures as one JSON line (wrk's own text output is for humans).
REPORT_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"max_us":%d,"mean_us":%.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""

POST_ACCOUNT_LUA = (
    """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name":"Load test","currency":"USD","billCycleDay":1,'
  .. '"billToContact":{"firstName":"Ada","lastName":"Lovelace","workEmail":"ada@example.com"}}'
"""
    + REPORT_LUA
)


@dataclass(frozen=True)
class HttpParams:
    duration: int = 10
    connections: int = 64
    threads: int = 2
    server_workers: int = 1
    # Seconds of unmeasured load per endpoint first (at most ``duration``): a fresh server
    # still fills its statement caches, prepares statements and opens connections.
    warmup: int = 2
    # Only POST /zuora/v1/accounts (no bill run to GET, no floor): a write-path A/B in a
    # third of the time.
    post_only: bool = False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(database_url: str, workers: int, log: Path) -> Iterator[str]:
    """A billcycle server on a free loopback port, for the block's duration."""
    port = free_port()
    env = {
        **os.environ,
        "BILLCYCLE_DATABASE_URL": database_url,
        # Access logs at info level would cost the server more than some requests.
        "BILLCYCLE_LOG_LEVEL": "warning",
        # The default per-tenant limit (50,000 a minute) is below what two processes
        # serve in a 10 s run: the limiter still counts every request, it refuses none.
        "BILLCYCLE_RATE_LIMIT_PER_MINUTE": "1000000000",
    }
    command = [
        sys.executable,
        "-m",
        "billcycle.cli.main",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with _process(command, env, port, log) as base:
        yield base


@contextmanager
def floor_server(
    body: bytes, headers: dict[str, str], directory: Path, processes: int = 1
) -> Iterator[str]:
    """The same-run floor (:mod:`billcycle.bench.http_floor`) on a free loopback port,
    with as many processes as the server it is the floor of."""
    port = free_port()
    (directory / "floor-body").write_bytes(body)
    (directory / "floor-headers.json").write_text(json.dumps(headers))
    command = [
        sys.executable,
        "-m",
        "billcycle.bench.http_floor",
        str(port),
        str(directory / "floor-body"),
        str(directory / "floor-headers.json"),
        str(processes),
    ]
    with _process(command, dict(os.environ), port, directory / "floor.log") as base:
        yield base


# The process group of each running server, by base URL (for its CPU time).
_GROUPS: dict[str, int] = {}


def cpu_seconds(base: str) -> float:
    """CPU time (user + system) the server at ``base`` and its worker processes have used
    so far. On a shared machine the CPU time a request costs is the figure that does not
    move with what else runs; wall-clock latency does."""
    group = _GROUPS.get(base)
    if group is None:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not is_ascii_digits(entry.name):
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[2] is the process group; [11], [12] user and system time in ticks.
        if int(fields[2]) == group:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


DatabaseCpu = Callable[[], dict[int, float]]


def database_cpu(bench: Bench) -> DatabaseCpu | None:
    """On PostgreSQL on this machine: a sampler of the CPU seconds each backend serving
    the bench's database has used (the servers' connections; it shares the two cores
    with them, so a request's cost is the server's CPU plus this). The cluster's shared
    processes (WAL writer, checkpointer) are not counted: other databases use them too.
    None on SQLite (the server processes' CPU includes the database's) or when the
    backends are not local processes."""
    if not bench.is_postgres:
        return None
    sql = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )

    def sample() -> dict[int, float]:
        with bench.runtime.engine.connect() as conn:
            pids = [int(pid) for pid in conn.execute(text(sql)).scalars()]
        found = {pid: process_cpu_seconds(pid) for pid in pids}
        return {pid: cpu for pid, cpu in found.items() if cpu is not None}

    return sample if sample() else None


@contextmanager
def _process(command: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise BenchError(f"the server exited ({proc.returncode}):\n{_tail(log)}")
            try:
                # Up, and past its PDF warm-up (the one start-up check a load test must
                # wait for; a PostgreSQL server without a worker is otherwise not ready).
                answer = httpx.get(f"{base}/readyz", timeout=1)
                if answer.status_code in (200, 503) and "pdf_warm_up" not in answer.json().get(
                    "checks", {}
                ):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"the server did not start:\n{_tail(log)}")
            time.sleep(0.2)
        _GROUPS[base] = proc.pid  # start_new_session: the server leads its own group
        yield base
    finally:
        _GROUPS.pop(base, None)
        proc.terminate()
        try:
            # Long enough for requests stuck behind a 30 s pool or lock timeout to end.
            proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return ""


def count_server_errors(log: Path) -> int:
    """Requests that ended in an unhandled exception (500), from the server's log; read
    once the server has stopped, so requests that outlived wrk are counted too."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return 0
    return text.count("Exception in ASGI application")


def run_wrk(
    wrk: str, url: str, params: HttpParams, token: str, script: str, directory: Path
) -> dict[str, Any]:
    path = directory / f"wrk-{abs(hash(script))}.lua"
    path.write_text(script)
    command = [
        wrk,
        f"-t{params.threads}",
        f"-c{params.connections}",
        f"-d{params.duration}s",
        "--timeout",
        "5s",
        "-H",
        f"Authorization: Bearer {token}",
        "-s",
        str(path),
        url,
    ]
    done = subprocess.run(  # noqa: S603 - wrk from PATH, loopback URL
        command, capture_output=True, text=True, timeout=params.duration + 60, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("WRKJSON ")]
    if done.returncode != 0 or not lines:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stdout[-500:]}{done.stderr}")
    raw: dict[str, Any] = json.loads(lines[-1].removeprefix("WRKJSON "))
    seconds = raw["duration_us"] / 1e6
    errors = sum(
        raw[key]
        for key in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return {
        "requests": raw["requests"],
        "requests_per_second": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "errors": errors,
        "non_2xx": raw["status_errors"],
    }


def measured(
    base: str, load: Callable[[], dict[str, Any]], database: DatabaseCpu | None = None
) -> dict[str, Any]:
    """wrk's figures plus the server's CPU milliseconds per answered request (and, given
    ``database``, the database backends')."""
    before = cpu_seconds(base)
    backends = database() if database is not None else {}
    figures = load()
    spent = cpu_seconds(base) - before
    requests = figures["requests"]
    figures["server_cpu_ms_per_request"] = round(spent * 1000 / requests, 3) if requests else None
    if database is not None:
        # A backend that started during the run counts from zero; one that ended is lost.
        after = database()
        used = sum(cpu - backends.get(pid, 0.0) for pid, cpu in after.items())
        figures["database_cpu_ms_per_request"] = (
            round(used * 1000 / requests, 3) if requests else None
        )
    return figures


def floor_headers(headers: httpx.Headers) -> dict[str, str]:
    """The headers a real answer carried, less those the floor's server writes itself."""
    own = {"content-length", "date", "server", "content-type", "content-encoding"}
    return {name: value for name, value in headers.items() if name.lower() not in own}


def rate_limit_check_us(bench: Bench, runs: int = 5, checks: int = 20_000) -> float:
    """What one rate-limit check costs (:meth:`RateLimiter.check`: two counters and the
    shared file's lock, as every authenticated request pays), in µs of this process's CPU
    time, the median of ``runs`` runs of ``checks`` (CPU time: on a shared machine wall
    time also counts what other processes ran). The target is under 50 µs."""
    with tempfile.TemporaryDirectory(prefix="bench-ratelimit-") as tmp:
        counter = WindowCounter(Path(tmp) / "counters")
        limiter = RateLimiter(
            counter,
            bench.runtime.session_factory,
            bench.runtime.machine_clock,
            default_per_tenant=10**9,
            default_per_client=10**9,
        )
        limiter.check(bench.tenant_id, "warm-up")
        figures = []
        for _ in range(runs):
            start = time.process_time()
            for _ in range(checks):
                limiter.check(bench.tenant_id, "bench-client")
            figures.append((time.process_time() - start) / checks * 1e6)
        counter.close()
    return round(statistics.median(figures), 2)


def run(bench: Bench, params: HttpParams) -> dict[str, Any]:
    result: dict[str, Any] = {
        "benchmark": "http",
        "database": bench.database,
        "server_workers": params.server_workers,
        "connections": params.connections,
        "duration_seconds": params.duration,
        "warmup_seconds": min(params.warmup, params.duration),
    }
    wrk = shutil.which("wrk")
    if wrk is None:
        return {
            **result,
            "tool": None,
            "skipped": "wrk is not installed (apt-get install wrk): nothing was measured",
            "correct": True,
            "errors": [],
        }
    if params.post_only:
        return {**result, **_post_only(bench, params, wrk)}
    # Something to GET: a small completed bill run.
    bench.load(DatasetSpec(accounts=100))
    with bench.workers() as workers:
        run_id, _ = bill_run.generate(bench, workers)
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        directory = Path(tmp)
        with server(bench.database_url, params.server_workers, directory / "server.log") as base:
            token = _token(bench, base)
            get_url = f"{base}{bill_run.BILL_RUNS}/{to_zuora_id(run_id)}"
            post_url = f"{base}/zuora/v1/accounts"
            if params.warmup > 0:
                warm = replace(params, duration=min(params.warmup, params.duration))
                run_wrk(wrk, get_url, warm, token, REPORT_LUA, directory)
                run_wrk(wrk, post_url, warm, token, POST_ACCOUNT_LUA, directory)
                time.sleep(1)  # requests still in flight when wrk stopped finish
            accounts_before = int(
                bench.scalar(
                    "SELECT count(*) FROM accounts WHERE tenant_id = :t", t=bench.tenant_id
                )
            )
            backends = database_cpu(bench)
            get = measured(
                base,
                lambda: run_wrk(wrk, get_url, params, token, REPORT_LUA, directory),
                backends,
            )
            post = measured(
                base,
                lambda: run_wrk(wrk, post_url, params, token, POST_ACCOUNT_LUA, directory),
                backends,
            )
            # As wrk asks: no Accept-Encoding (httpx would ask for gzip and decode it).
            sample = httpx.get(
                get_url,
                headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"},
                timeout=10,
            )
        server_errors = count_server_errors(directory / "server.log")
        # The same run's floor: the same bytes from a bare app, after billcycle has stopped.
        with floor_server(
            sample.content, floor_headers(sample.headers), directory, params.server_workers
        ) as floor:
            floor_url = f"{floor}{bill_run.BILL_RUNS}/{to_zuora_id(run_id)}"
            if params.warmup > 0:
                warm = replace(params, duration=min(params.warmup, params.duration))
                run_wrk(wrk, floor_url, warm, token, REPORT_LUA, directory)
            floor_get = measured(
                floor, lambda: run_wrk(wrk, floor_url, params, token, REPORT_LUA, directory)
            )
    created = (
        int(bench.scalar("SELECT count(*) FROM accounts WHERE tenant_id = :t", t=bench.tenant_id))
        - accounts_before
    )
    errors = [
        f"{name}: {figures['errors']} errors ({figures['non_2xx']} non-2xx answers)"
        for name, figures in (("GET bill run", get), ("POST account", post))
        if figures["errors"]
    ]
    if server_errors:
        errors.append(
            f"the server logged {server_errors} unhandled errors (requests still in flight "
            "when wrk stopped are not in wrk's figures)"
        )
    # wrk stops the clock with requests in flight: those may have created accounts too.
    if not post["requests"] <= created <= post["requests"] + params.connections:
        errors.append(f"POST account: {post['requests']} answered, {created} accounts created")
    return {
        **result,
        "tool": "wrk",
        "get_bill_run": get,
        "get_floor": floor_get,
        "get_p99_to_floor": round(get["p99_ms"] / floor_get["p99_ms"], 2)
        if floor_get["p99_ms"]
        else None,
        "get_cpu_to_floor": round(
            get["server_cpu_ms_per_request"] / floor_get["server_cpu_ms_per_request"], 2
        )
        if get["server_cpu_ms_per_request"] and floor_get["server_cpu_ms_per_request"]
        else None,
        "get_throughput_to_floor": round(
            get["requests_per_second"] / floor_get["requests_per_second"], 3
        )
        if floor_get["requests_per_second"]
        else None,
        "post_accounts": post,
        "load_average": list(os.getloadavg()),
        "rate_limit_check_us": rate_limit_check_us(bench),
        "accounts_created": created,
        "server_errors": server_errors,
        "correct": not errors,
        "errors": errors,
    }


def _post_only(bench: Bench, params: HttpParams, wrk: str) -> dict[str, Any]:
    """``run`` with ``post_only``: the POST figures, their checks and nothing else."""
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        directory = Path(tmp)
        with server(bench.database_url, params.server_workers, directory / "server.log") as base:
            token = _token(bench, base)
            post_url = f"{base}/zuora/v1/accounts"
            if params.warmup > 0:
                warm = replace(params, duration=min(params.warmup, params.duration))
                run_wrk(wrk, post_url, warm, token, POST_ACCOUNT_LUA, directory)
                time.sleep(1)
            accounts_before = _accounts(bench)
            post = measured(
                base,
                lambda: run_wrk(wrk, post_url, params, token, POST_ACCOUNT_LUA, directory),
                database_cpu(bench),
            )
        server_errors = count_server_errors(directory / "server.log")
    created = _accounts(bench) - accounts_before
    errors = []
    if post["errors"]:
        errors.append(f"POST account: {post['errors']} errors ({post['non_2xx']} non-2xx answers)")
    if server_errors:
        errors.append(f"the server logged {server_errors} unhandled errors")
    if not post["requests"] <= created <= post["requests"] + params.connections:
        errors.append(f"POST account: {post['requests']} answered, {created} accounts created")
    return {
        "tool": "wrk",
        "post_accounts": post,
        "load_average": list(os.getloadavg()),
        "accounts_created": created,
        "server_errors": server_errors,
        "correct": not errors,
        "errors": errors,
    }


def _token(bench: Bench, base: str) -> str:
    answer = httpx.post(
        f"{base}/zuora/oauth/token",
        data={
            "client_id": bench.tenant.client_id,
            "client_secret": bench.tenant.client_secret,
            "grant_type": "client_credentials",
        },
        timeout=10,
    )
    if answer.status_code != 200:
        raise BenchError(f"OAuth token: {answer.status_code} {answer.text[:300]}")
    token: str = answer.json()["access_token"]
    return token


def _accounts(bench: Bench) -> int:
    return int(
        bench.scalar("SELECT count(*) FROM accounts WHERE tenant_id = :t", t=bench.tenant_id)
    )
