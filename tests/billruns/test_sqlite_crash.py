"""A SQLite ``billcycle serve`` SIGKILLed in the middle of a bill run whose chunks its
helper process prepares ahead (``billruns.pipeline``): the helper goes with it, every
committed chunk stays, the next server finishes the run, and every account is billed
exactly once."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from billcycle.db.session import unit_of_work
from billcycle.devtools.dataset import DatasetSpec, load
from billcycle.runtime import Runtime
from billcycle.tenancy.service import create_tenant
from tests.ops.helpers import serving, token, wait_until

pytestmark = pytest.mark.slow

ACCOUNTS = 6000
CHUNK = 50


def query(runtime: Runtime, sql: str, **params: Any) -> list[Any]:
    with runtime.engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_sigkill_mid_run_keeps_committed_chunks_and_bills_each_account_once(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the helper process serves SQLite's single writer")
    with unit_of_work(runtime.session_factory) as session:
        tenant = create_tenant(session, runtime.clock, "sigkill")
    with unit_of_work(runtime.session_factory) as session:
        load(session, tenant.tenant_id, DatasetSpec(accounts=ACCOUNTS))
    env = {"BILLCYCLE_BILL_RUN_CHUNK_SIZE": str(CHUNK), "BILLCYCLE_WORKER_LEASE_SECONDS": "3"}
    chunk_sql = "SELECT status FROM work_chunks WHERE kind = 'bill_run' AND parent_id = :r"

    def done() -> int:
        return sum(s == "done" for (s,) in query(runtime, chunk_sql, r=run_id))

    with serving(database_url, tmp_path / "first.log", **env) as (base, server):
        bearer = token(base, tenant.client_id, tenant.client_secret)
        response = httpx.post(
            f"{base}/zuora/v1/bill-runs",
            json={"batches": ["AllBatches"], "targetDate": "2026-02-01"},
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        run_id = int(response.json()["id"], 16)
        # Killed once the helper is running and has had time to prepare chunks.
        wait_until(lambda: bool(children(server.pid)), 60, "the helper process")
        helpers = children(server.pid)
        wait_until(lambda: done() >= 6, 120, "six chunks done")
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    # The helper exits when its worker's end of the pipe closes.
    wait_until(lambda: not any(alive(pid) for pid in helpers), 30, "the helper to exit")
    chunks = query(runtime, chunk_sql, r=run_id)
    assert 6 <= done() < len(chunks), "the run finished before the kill: make it longer"
    committed = query(
        runtime,
        "SELECT count(*), count(DISTINCT account_id) FROM invoices WHERE bill_run_id = :r",
        r=run_id,
    )[0]
    assert committed[0] == committed[1] >= 6 * CHUNK

    with serving(database_url, tmp_path / "second.log", **env):
        deadline = time.monotonic() + 300
        while query(runtime, "SELECT status FROM bill_runs WHERE id = :r", r=run_id)[0][0] not in (
            "Completed",
            "Error",
        ):
            assert time.monotonic() < deadline, "the second server did not finish the run"
            time.sleep(0.2)
    status, invoices_created = query(
        runtime, "SELECT status, invoices_created FROM bill_runs WHERE id = :r", r=run_id
    )[0]
    assert status == "Completed"
    invoices, accounts, amount = query(
        runtime,
        "SELECT count(*), count(DISTINCT account_id), sum(amount_minor) FROM invoices "
        "WHERE bill_run_id = :r",
        r=run_id,
    )[0]
    assert invoices == accounts == invoices_created == ACCOUNTS
    assert amount == ACCOUNTS * 6000
    items = query(
        runtime,
        "SELECT count(*), count(DISTINCT subscription_charge_id || '/' || service_start) "
        "FROM invoice_items WHERE tenant_id = :t",
        t=tenant.tenant_id,
    )[0]
    assert items[0] == items[1] == ACCOUNTS * 2
    assert (
        query(
            runtime,
            "SELECT count(*) FROM subscription_charges WHERE tenant_id = :t "
            "AND billed_through = '2026-03-01'",
            t=tenant.tenant_id,
        )[0][0]
        == ACCOUNTS
    )
