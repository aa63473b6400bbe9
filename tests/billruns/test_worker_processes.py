"""Real `billcycle worker` processes on PostgreSQL: killed mid-run, and sharing a run.

These are the guarantees the chunk design exists for: a worker SIGKILLed at any moment
leaves nothing half-done (a chunk's invoices and its completion commit together), a
restarted worker resumes, and every account is invoiced exactly once.
"""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import func, select

from billcycle.billruns import service
from billcycle.billruns.models import BillRun
from billcycle.billruns.spec import BillRunSpec
from billcycle.db.session import unit_of_work
from billcycle.devtools.dataset import DatasetSpec, load
from billcycle.invoicing.models import Invoice
from billcycle.jobs import wiring
from billcycle.jobs.models import WorkChunk
from billcycle.runtime import Runtime
from billcycle.tenancy.service import create_tenant
from tests.support.workers import postgres_runtime, spawn_worker, workers

pytestmark = pytest.mark.slow
__all__ = ["workers"]  # the fixture

ACCOUNTS = 5_000
CHUNK = 50


@pytest.fixture
def pg_runtime(database_url: str, runtime: Runtime) -> Runtime:
    return postgres_runtime(
        database_url,
        runtime.engine,
        "worker processes share work through PostgreSQL",
        bill_run_chunk_size=CHUNK,
    )


@dataclass
class Scenario:
    tenant_id: int
    run_id: int


def start_run(runtime: Runtime, name: str) -> Scenario:
    with unit_of_work(runtime.session_factory) as session:
        tenant = create_tenant(session, runtime.clock, name)
    with unit_of_work(runtime.session_factory) as session:
        load(session, tenant.tenant_id, DatasetSpec(accounts=ACCOUNTS))
    with wiring.procrastinate_dispatch(runtime), runtime.service_context(tenant.tenant_id) as ctx:
        run = service.create_bill_run(ctx, BillRunSpec(target_date=date(2026, 2, 1)))
        run_id = run.id
    runtime.dispatcher = None
    return Scenario(tenant.tenant_id, run_id)


def spawn(database_url: str) -> subprocess.Popen[bytes]:
    return spawn_worker(
        database_url,
        BILLCYCLE_BILL_RUN_CHUNK_SIZE=str(CHUNK),
        BILLCYCLE_WORKER_LEASE_SECONDS="3",
    )


def run_row(runtime: Runtime, scenario: Scenario) -> BillRun:
    with runtime.service_context(scenario.tenant_id) as ctx:
        run = ctx.session.get(BillRun, scenario.run_id)
        assert run is not None
        return run


def wait_for(runtime: Runtime, scenario: Scenario, predicate: object, timeout: float) -> BillRun:
    deadline = time.monotonic() + timeout
    while True:
        run = run_row(runtime, scenario)
        if predicate(run):  # type: ignore[operator]
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"bill run stuck: {run.status} {run.accounts_processed}")
        time.sleep(0.05)


def assert_billed_exactly_once(runtime: Runtime, scenario: Scenario) -> None:
    with runtime.service_context(scenario.tenant_id) as ctx:
        per_account = ctx.session.execute(
            select(Invoice.account_id, func.count())
            .where(Invoice.bill_run_id == scenario.run_id)
            .group_by(Invoice.account_id)
        ).all()
        total = ctx.session.scalar(
            select(func.sum(Invoice.amount_minor)).where(Invoice.bill_run_id == scenario.run_id)
        )
    assert len(per_account) == ACCOUNTS
    assert {count for _, count in per_account} == {1}
    # Uninterrupted, each account owes January and February at 30.00: 60.00.
    assert total == ACCOUNTS * 6000
    run = run_row(runtime, scenario)
    assert (run.status, run.accounts_processed, run.invoices_created) == (
        "Completed",
        ACCOUNTS,
        ACCOUNTS,
    )


def test_killed_worker_is_replaced_and_nothing_is_billed_twice(
    pg_runtime: Runtime, database_url: str, workers: list[subprocess.Popen[bytes]]
) -> None:
    scenario = start_run(pg_runtime, "crash")
    first = spawn(database_url)
    workers.append(first)
    wait_for(pg_runtime, scenario, lambda r: r.accounts_processed >= 10 * CHUNK, 120)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    interrupted = run_row(pg_runtime, scenario)
    assert interrupted.status == "Processing"
    assert interrupted.accounts_processed < ACCOUNTS

    workers.append(spawn(database_url))
    wait_for(pg_runtime, scenario, lambda r: r.status == "Completed", 180)
    assert_billed_exactly_once(pg_runtime, scenario)


def test_two_workers_share_one_run(
    pg_runtime: Runtime, database_url: str, workers: list[subprocess.Popen[bytes]]
) -> None:
    scenario = start_run(pg_runtime, "shared")
    workers.extend([spawn(database_url), spawn(database_url)])
    wait_for(pg_runtime, scenario, lambda r: r.status == "Completed", 180)
    assert_billed_exactly_once(pg_runtime, scenario)
    with pg_runtime.service_context(scenario.tenant_id) as ctx:
        owners = ctx.session.scalars(
            select(WorkChunk.claimed_by).where(
                WorkChunk.kind == "bill_run", WorkChunk.parent_id == scenario.run_id
            )
        ).all()
    processes = {owner.rsplit(":", 1)[0] for owner in owners if owner}
    assert len(processes) == 2, processes
