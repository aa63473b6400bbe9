"""``billcycle worker`` and SIGTERM: the worker finishes the chunk in hand, claims no
more, hands the rest of the run to the other workers and exits well within its lease;
another worker completes the run, nothing lost, nothing billed twice. Real worker
processes on PostgreSQL (where ``billcycle worker`` runs)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from billcycle.db.session import unit_of_work
from billcycle.devtools.dataset import DatasetSpec, load
from billcycle.jobs import wiring
from billcycle.runtime import Runtime
from billcycle.tenancy.service import create_tenant
from billcycle.web.app import create_app
from tests.ops.helpers import SRC, value, wait_until
from tests.support.server import free_port
from tests.support.workers import postgres_runtime, workers

pytestmark = pytest.mark.slow
__all__ = ["workers"]  # the fixture

ACCOUNTS = 1200
CHUNK = 40
LEASE_SECONDS = 30


@pytest.fixture
def pg_runtime(database_url: str, runtime: Runtime) -> Runtime:
    return postgres_runtime(
        database_url,
        runtime.engine,
        "`billcycle worker` runs on PostgreSQL",
        worker_lease_seconds=LEASE_SECONDS,
    )


def spawn(database_url: str, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": SRC,
        "BILLCYCLE_DATABASE_URL": database_url,
        "BILLCYCLE_WORKER_TICK_SECONDS": "1",
        "BILLCYCLE_WORKER_LEASE_SECONDS": str(LEASE_SECONDS),
        "BILLCYCLE_BILL_RUN_CHUNK_SIZE": str(CHUNK),
        "BILLCYCLE_LOG_FORMAT": "json",
        **extra,
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "billcycle.cli.main", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def query(runtime: Runtime, sql: str, **params: Any) -> list[Any]:
    with runtime.engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def test_sigterm_mid_run_finishes_the_chunk_and_another_worker_completes_the_run(
    pg_runtime: Runtime,
    database_url: str,
    workers: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    with pg_runtime.engine.begin() as conn:
        conn.execute(
            text("UPDATE procrastinate_jobs SET status = 'cancelled' WHERE status = 'todo'")
        )
    with unit_of_work(pg_runtime.session_factory) as session:
        tenant = create_tenant(session, pg_runtime.clock, "sigterm")
    with unit_of_work(pg_runtime.session_factory) as session:
        load(session, tenant.tenant_id, DatasetSpec(accounts=ACCOUNTS))
    first = spawn(database_url, tmp_path / "first.log")
    workers.append(first)
    with wiring.procrastinate_dispatch(pg_runtime), TestClient(create_app(pg_runtime)) as client:
        token = client.post(
            "/zuora/oauth/token",
            data={
                "client_id": tenant.client_id,
                "client_secret": tenant.client_secret,
                "grant_type": "client_credentials",
            },
        ).json()["access_token"]
        response = client.post(
            "/zuora/v1/bill-runs",
            json={"batches": ["AllBatches"], "targetDate": "2026-02-01"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
    pg_runtime.dispatcher = None
    run_id = int(response.json()["id"], 16)
    chunk_sql = (
        "SELECT status, attempts FROM work_chunks WHERE kind = 'bill_run' AND parent_id = :r"
    )

    def done() -> int:
        return sum(s == "done" for s, _ in query(pg_runtime, chunk_sql, r=run_id))

    wait_until(lambda: done() >= 2, 120, "the first worker to finish two chunks")
    first.send_signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    first.wait(timeout=LEASE_SECONDS)
    took = time.monotonic() - stopped_at
    assert took < LEASE_SECONDS, took
    chunks = query(pg_runtime, chunk_sql, r=run_id)
    total = ACCOUNTS // CHUNK
    assert len(chunks) == total
    # Nothing left claimed by the stopped worker: its chunk finished, the rest wait.
    assert {s for s, _ in chunks} <= {"done", "pending"}
    left = sum(s == "pending" for s, _ in chunks)
    assert left > 0, "the run finished before the signal: make it longer"
    status = query(pg_runtime, "SELECT status FROM bill_runs WHERE id = :r", r=run_id)[0][0]
    assert status == "Processing"
    lines = [
        json.loads(line)
        for line in (tmp_path / "first.log").read_text().splitlines()
        if line.startswith("{")
    ]
    assert any(line["event"].startswith("worker stopping") for line in lines), lines[-5:]

    port = free_port()
    second = spawn(database_url, tmp_path / "second.log", BILLCYCLE_WORKER_METRICS_PORT=str(port))
    workers.append(second)
    wait_until(
        lambda: (
            query(pg_runtime, "SELECT status FROM bill_runs WHERE id = :r", r=run_id)[0][0]
            == "Completed"
        ),
        180,
        "the second worker to complete the run",
    )
    chunks = query(pg_runtime, chunk_sql, r=run_id)
    # Every chunk done by exactly one claim: none was abandoned and re-claimed after a lease.
    assert sorted(chunks) == [("done", 1)] * total
    invoices, accounts = query(
        pg_runtime,
        "SELECT count(*), count(DISTINCT account_id) FROM invoices WHERE bill_run_id = :r",
        r=run_id,
    )[0]
    assert (invoices, accounts) == (ACCOUNTS, ACCOUNTS)
    counters = query(
        pg_runtime,
        "SELECT accounts_processed, invoices_created, chunks_done, chunks_total "
        "FROM bill_runs WHERE id = :r",
        r=run_id,
    )[0]
    assert tuple(counters) == (ACCOUNTS, ACCOUNTS, total, total)
    # The second worker's own /metrics (`--metrics-port`): the chunks it did, their invoices.
    scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert value(scraped, "billcycle_chunks_completed_total", kind="bill_run") == left
    assert value(scraped, "billcycle_chunks_claimed_total", kind="bill_run") == left
    assert value(scraped, "billcycle_invoices_generated_total") == left * CHUNK
