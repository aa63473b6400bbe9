"""Rate limits per tenant and per credential (docs/security.md): Zuora's RateLimit-*
headers on every answer, 429 with Retry-After and a category-70 code past the limit,
Fusebill's envelope likewise; limits per tenant from `billcycle tenant rate-limit`; one
count across the processes of `billcycle serve --workers 2`. What a check costs (the
50 µs target) is a benchmark figure (`billcycle bench http`: rate_limit_check_us), not a
test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from billcycle.clock import FrozenClock
from billcycle.ratelimits import service as ratelimits
from billcycle.ratelimits.counter import WindowCounter
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from billcycle.web.app import create_app
from tests.protocol.helpers import bearer, cli, second_client, token
from tests.support.api import Api
from tests.support.server import free_port
from tests.support.tenants import other_tenant

__all__ = ["other_tenant"]

BILL_RUNS = "/zuora/v1/bill-runs"


def test_zuora_headers_and_the_429(
    api: Api,
    runtime: Runtime,
    machine_clock: FrozenClock,
    database_url: str,
    other_tenant: NewTenant,
) -> None:
    cli(database_url, "tenant", "rate-limit", str(api.tenant.tenant_id), "--per-minute", "5")
    remaining = []
    for _ in range(5):
        answer = api.client.get(BILL_RUNS, headers=api.zuora_headers)
        assert answer.status_code == 200
        assert answer.headers["ratelimit-limit"] == "5"
        assert "retry-after" not in answer.headers
        remaining.append(int(answer.headers["ratelimit-remaining"]))
    assert remaining == [4, 3, 2, 1, 0]
    refused = api.client.get(BILL_RUNS, headers=api.zuora_headers)
    assert refused.status_code == 429
    assert refused.headers["ratelimit-remaining"] == "0"
    # The tests' machine clock stands at 09:00:00: the window ends in 60 seconds.
    assert refused.headers["retry-after"] == refused.headers["ratelimit-reset"] == "60"
    [reason] = refused.json()["reasons"]
    assert reason["code"] == 50000070
    assert "limit of 5 requests a minute" in reason["message"]
    # Writes are refused the same way, and change nothing; a refused Idempotency-Key is
    # not kept (the retry after the window runs).
    keyed = {**api.zuora_headers, "Idempotency-Key": f"rl-{api.tenant.client_id}"}
    run = {"batches": ["AllBatches"], "targetDate": "2026-02-01"}
    assert api.client.post(BILL_RUNS, json=run, headers=keyed).status_code == 429
    # Other tenants are not affected.
    assert (
        api.client.get(BILL_RUNS, headers=bearer(token(api.client, other_tenant))).status_code
        == 200
    )
    machine_clock.advance(timedelta(seconds=59))
    late = api.client.get(BILL_RUNS, headers=api.zuora_headers)
    assert (late.status_code, late.headers["retry-after"]) == (429, "1")
    machine_clock.advance(timedelta(seconds=1))
    again = api.client.get(BILL_RUNS, headers=api.zuora_headers)
    assert (again.status_code, again.headers["ratelimit-remaining"]) == (200, "4")
    assert api.client.get(BILL_RUNS, headers=api.zuora_headers).json()["billRuns"] == []
    assert api.client.post(BILL_RUNS, json=run, headers=keyed).status_code == 200
    assert len(api.client.get(BILL_RUNS, headers=api.zuora_headers).json()["billRuns"]) == 1


def test_fusebill_answers_429_in_its_envelope(api: Api, runtime: Runtime) -> None:
    ratelimits.set_limits(runtime.session_factory, api.tenant.tenant_id, 2, None)
    path = "/fusebill/v1/invoices/999999"
    for _ in range(2):
        answer = api.client.get(path, headers=api.fusebill_headers)
        assert answer.status_code == 404
        assert answer.headers["ratelimit-limit"] == "2"
    refused = api.client.get(path, headers=api.fusebill_headers)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "60"
    body = refused.json()
    assert body["HttpStatusCode"] == 429
    assert "limit of 2 requests a minute" in body["Errors"][0]["Value"]


def test_a_credential_has_its_own_limit(api: Api, runtime: Runtime, database_url: str) -> None:
    tid = api.tenant.tenant_id
    cli(database_url, "tenant", "rate-limit", str(tid), "--per-minute", "100", "--per-client", "3")
    other = bearer(token(api.client, second_client(runtime, tid)))
    for _ in range(3):
        assert api.client.get(BILL_RUNS, headers=api.zuora_headers).status_code == 200
    limited = api.client.get(BILL_RUNS, headers=api.zuora_headers)
    assert limited.status_code == 429
    assert limited.headers["ratelimit-limit"] == "3"
    assert api.client.get(BILL_RUNS, headers=other).status_code == 200
    # Back to the defaults (50,000 a minute, no per-client limit): a server process reads
    # a tenant's limits again within 30 seconds; a new one at once.
    cli(database_url, "tenant", "rate-limit", str(tid), "--default")
    with TestClient(create_app(runtime)) as fresh:
        assert fresh.get(BILL_RUNS, headers=api.zuora_headers).status_code == 200


def test_processes_sharing_the_file_share_the_count(tmp_path: Path) -> None:
    path = tmp_path / "counters"
    one, two = WindowCounter(path), WindowCounter(path)
    now = 1_000_000.0
    allowed = [c.hit([("t:1", 10)], now).allowed for _ in range(10) for c in (one, two)]
    assert allowed.count(True) == 10
    assert not one.hit([("t:1", 10)], now).allowed
    assert two.hit([("t:2", 10)], now).allowed  # another key
    assert one.hit([("t:1", 10)], now + 60).allowed  # the next window
    one.close()
    two.close()


# -- a real server with two worker processes -------------------------------------------


@pytest.fixture
def two_workers(database_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "BILLCYCLE_OUTBOX_DIR": str(tmp_path / "outbox"),
        "BILLCYCLE_LOG_LEVEL": "warning",
    }
    env.pop("BILLCYCLE_RATE_LIMIT_FILE", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "billcycle.cli.main",
            "serve",
            "--workers",
            "2",
            "--port",
            str(port),
            "--database",
            database_url,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("billcycle serve --workers 2 did not start")
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_the_limit_holds_across_two_server_processes(
    two_workers: str, runtime: Runtime, tenant: NewTenant
) -> None:
    ratelimits.set_limits(runtime.session_factory, tenant.tenant_id, 30, None)
    access = httpx.post(
        f"{two_workers}/zuora/oauth/token",
        data={
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "grant_type": "client_credentials",
        },
    ).json()["access_token"]
    statuses: list[int] = []
    lock = threading.Lock()

    def send(count: int) -> None:
        for _ in range(count):
            # A new connection each time: the kernel hands each to either process.
            answer = httpx.get(f"{two_workers}{BILL_RUNS}", headers=bearer(access), timeout=30)
            with lock:
                statuses.append(answer.status_code)

    # The burst (a second or two) must fall inside one minute window of the system clock.
    into_minute = time.time() % 60
    if into_minute > 45:
        time.sleep(61 - into_minute)
    threads = [threading.Thread(target=send, args=(10,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Counted per process, each of the two would let 30 through.
    assert (statuses.count(200), statuses.count(429)) == (30, 50)
