"""What observability costs: the request middleware per request, and a ``/metrics`` scrape.

    PYTHONPATH=src python -m bench.observability [--database URL] [--accounts N]

1. The middleware alone (``web.observability.ObservabilityMiddleware``) around a bare
   ASGI app answering 200, called directly (no sockets), against the bare app, in CPU time: metrics
   only, metrics plus the request log line (JSON, to a discarded stream), and with the
   log line filtered out by level. Reports microseconds per request (median of 5 rounds).
2. ``GET /metrics`` over loopback against a real ``billcycle serve`` on the database,
   after a bill run of N accounts left its rows (runs, chunks, invoices): median and
   95th percentile of 200 sequential scrapes.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from billcycle import logs
from billcycle.clock import SystemClock
from billcycle.config import Settings
from billcycle.db import migrate
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory, unit_of_work
from billcycle.devtools.dataset import DatasetSpec, load
from billcycle.runtime import Runtime
from billcycle.tenancy.service import create_tenant
from billcycle.web.observability import ObservabilityMiddleware

REQUESTS = 20_000


async def _bare(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _per_request_us(app: Any) -> float:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/zuora/v1/bill-runs/1",
        "root_path": "",
        "headers": [(b"zuora-track-id", b"bench")],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(_message: Any) -> None:
        return None

    async def run() -> float:
        # CPU time: what a request costs this process, whatever else the machine runs.
        started = time.process_time()
        for _ in range(REQUESTS):
            await app(dict(scope), receive, send)
        return (time.process_time() - started) / REQUESTS * 1e6

    rounds = [asyncio.run(run()) for _ in range(5)]
    return statistics.median(rounds)


def middleware_cost() -> dict[str, float]:
    logs.configure("json", "info", stream=io.StringIO())
    bare = _per_request_us(_bare)
    metrics_only = _per_request_us(ObservabilityMiddleware(_bare, log_requests=False))
    logged = _per_request_us(ObservabilityMiddleware(_bare, log_requests=True))
    logging.getLogger().setLevel(logging.WARNING)
    filtered = _per_request_us(ObservabilityMiddleware(_bare, log_requests=True))
    return {
        "bare_us": round(bare, 1),
        "metrics_us": round(metrics_only - bare, 1),
        "metrics_and_log_line_us": round(logged - bare, 1),
        "metrics_log_filtered_us": round(filtered - bare, 1),
    }


def scrape_time(database_url: str, accounts: int) -> dict[str, float]:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    runtime = Runtime(
        settings=Settings(database_url=database_url),
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=SystemClock(),
    )
    with unit_of_work(runtime.session_factory) as session:
        tenant = create_tenant(session, runtime.clock, f"scrape bench {time.time_ns()}")
    with unit_of_work(runtime.session_factory) as session:
        load(session, tenant.tenant_id, DatasetSpec(accounts=accounts))
    runtime.dispose()
    port = 18000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "BILLCYCLE_DATABASE_URL": database_url, "BILLCYCLE_LOG_LEVEL": "warning"}
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "billcycle.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = None
    try:
        if database_url.startswith("postgresql"):
            worker = subprocess.Popen(
                [sys.executable, "-m", "billcycle.cli.main", "worker"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        token = httpx.post(
            f"{base}/zuora/oauth/token",
            data={
                "client_id": tenant.client_id,
                "client_secret": tenant.client_secret,
                "grant_type": "client_credentials",
            },
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        run = httpx.post(
            f"{base}/zuora/v1/bill-runs",
            json={"batches": ["AllBatches"], "targetDate": "2026-02-01"},
            headers=headers,
            timeout=60,
        ).json()["id"]
        while httpx.get(f"{base}/zuora/v1/bill-runs/{run}", headers=headers).json()[
            "status"
        ] not in ("Completed", "Error"):
            time.sleep(0.5)
        timings = []
        with httpx.Client(base_url=base) as client:
            client.get("/metrics")
            for _ in range(200):
                started = time.perf_counter()
                response = client.get("/metrics")
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
        timings.sort()
        return {
            "scrape_median_ms": round(statistics.median(timings), 2),
            "scrape_p95_ms": round(timings[int(len(timings) * 0.95)], 2),
            "scrape_bytes": len(response.content),
            "load_1min": round(os.getloadavg()[0], 1),
        }
    finally:
        for process in (worker, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--accounts", type=int, default=20_000)
    args = parser.parse_args()
    print("middleware", middleware_cost(), flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database or f"sqlite:///{Path(scratch) / 'scrape.db'}"
        print("scrape", scrape_time(url, args.accounts), flush=True)


if __name__ == "__main__":
    main()
