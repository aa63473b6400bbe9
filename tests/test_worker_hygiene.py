"""A worker killed outright leaves no procrastinate job in ``doing`` for ever.

procrastinate marks a job ``doing`` when a worker takes it and never looks at it again if
that worker dies. billcycle's reaper tick settles such jobs once the worker's heartbeat is
older than a lease: drains and ticks fail (the chunk reaper re-dispatches the chunks'
work), other tasks are retried a few times. PostgreSQL only: the queue lives there.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from billcycle.bulkjobs import service
from billcycle.bulkjobs.statuses import BulkJobStatus, BulkJobType
from billcycle.db.session import unit_of_work
from billcycle.devtools.dataset import DatasetSpec, load, load_posted_invoices
from billcycle.jobs import wiring
from billcycle.jobs.queue import QUEUE, RUN, STALLED_RETRIES, ProcrastinateDispatcher, make_app
from billcycle.runtime import Runtime
from billcycle.tenancy.service import create_tenant
from tests.support.workers import postgres_runtime, spawn_worker, workers

pytestmark = pytest.mark.slow
__all__ = ["workers"]  # the fixture

RECORDS = 100_000
LEASE_SECONDS = 3


@pytest.fixture
def pg_runtime(database_url: str, runtime: Runtime) -> Runtime:
    return postgres_runtime(
        database_url,
        runtime.engine,
        "the procrastinate queue lives in PostgreSQL",
        worker_lease_seconds=LEASE_SECONDS,
    )


def spawn(database_url: str) -> subprocess.Popen[bytes]:
    return spawn_worker(database_url, BILLCYCLE_WORKER_LEASE_SECONDS=str(LEASE_SECONDS))


def query(runtime: Runtime, sql: str, **params: Any) -> list[Any]:
    with runtime.engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def start_write_off(runtime: Runtime) -> tuple[int, int]:
    """A validating BulkWriteOff job of RECORDS invoices, its drains queued; (tenant, job)."""
    with unit_of_work(runtime.session_factory) as session:
        tenant = create_tenant(
            session, runtime.clock, "hygiene", bulk_jobs=True, bulk_job_record_limit=RECORDS
        )
    with unit_of_work(runtime.session_factory) as session:
        dataset = load(session, tenant.tenant_id, DatasetSpec(accounts=RECORDS // 10))
        first, last = dataset.account_ids
        invoices = load_posted_invoices(
            session, tenant.tenant_id, list(range(first, last + 1)), RECORDS
        )
    with wiring.procrastinate_dispatch(runtime), runtime.service_context(tenant.tenant_id) as ctx:
        job = service.create_job(ctx, BulkJobType.BULK_WRITE_OFF, invoices, chunk_size=100)
        job_id = job.id
    runtime.dispatcher = None
    return tenant.tenant_id, job_id


def test_a_killed_workers_job_is_settled_and_its_work_finished(
    pg_runtime: Runtime, database_url: str, workers: list[subprocess.Popen[bytes]]
) -> None:
    # The database is shared by this process's earlier tests, which may have left queued
    # jobs nobody ran; the worker would take those too, so cancel them first.
    with pg_runtime.engine.begin() as conn:
        conn.execute(
            text("UPDATE procrastinate_jobs SET status = 'cancelled' WHERE status = 'todo'")
        )
    _, job_id = start_write_off(pg_runtime)
    doing = (
        "SELECT id, args->>'name' FROM procrastinate_jobs "
        "WHERE queue_name = :q AND status = 'doing' AND task_name = :run"
    )
    first = spawn(database_url)
    workers.append(first)
    wait_until(
        lambda: bool(query(pg_runtime, doing, q=QUEUE, run=RUN)), 60, "a worker to take a drain"
    )
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    orphans = query(pg_runtime, doing, q=QUEUE, run=RUN)
    assert orphans, "the killed worker was running nothing"
    assert {name for _, name in orphans} == {"drain"}
    status, done = query(
        pg_runtime,
        "SELECT status, successful_records + failed_records FROM bulk_jobs WHERE id = :j",
        j=job_id,
    )[0]
    assert (status, done < RECORDS) == (BulkJobStatus.VALIDATING, True)

    workers.append(spawn(database_url))
    ids = [job for job, _ in orphans]
    settled = "SELECT id, status FROM procrastinate_jobs WHERE id = ANY(:ids)"
    wait_until(
        lambda: all(s != "doing" for _, s in query(pg_runtime, settled, ids=ids)),
        60,
        "the orphaned jobs to leave doing",
    )
    assert {s for _, s in query(pg_runtime, settled, ids=ids)} == {"failed"}
    wait_until(
        lambda: (
            query(pg_runtime, "SELECT status FROM bulk_jobs WHERE id = :j", j=job_id)[0][0]
            == BulkJobStatus.VALIDATED
        ),
        120,
        "the job's validation to finish",
    )
    counts = query(
        pg_runtime,
        "SELECT successful_records, failed_records FROM bulk_jobs WHERE id = :j",
        j=job_id,
    )[0]
    assert tuple(counts) == (RECORDS, 0)


def _stall(runtime: Runtime, job_id: int, heartbeat_age: str) -> None:
    """Put ``job_id`` in ``doing`` under a worker whose last heartbeat is that old."""
    with runtime.engine.begin() as conn:
        worker_id = conn.execute(
            text(
                "INSERT INTO procrastinate_workers (last_heartbeat) "
                "VALUES (now() - CAST(:age AS interval)) RETURNING id"
            ),
            {"age": heartbeat_age},
        ).scalar_one()
        conn.execute(
            text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w WHERE id = :j"),
            {"w": worker_id, "j": job_id},
        )


def test_stalled_tasks_are_retried_a_few_times_drains_fail_at_once(pg_runtime: Runtime) -> None:
    app = make_app(pg_runtime.settings.database_url)
    stalled_after = timedelta(seconds=LEASE_SECONDS)
    with app.open():
        dispatcher = ProcrastinateDispatcher(app)
        run = app.configure_task(RUN, queue=QUEUE)
        # A task name no worker in this test runs: the job is only ever moved by hand.
        task = run.defer(name="hygiene.test", kwargs={})
        drain = run.defer(name="drain", kwargs={"kind": "hygiene", "parent_id": 0})
        alive = run.defer(name="hygiene.alive", kwargs={})
        _stall(pg_runtime, alive, "0 seconds")

        def status(job_id: int) -> tuple[str, int]:
            row = query(
                pg_runtime,
                "SELECT status, attempts FROM procrastinate_jobs WHERE id = :j",
                j=job_id,
            )[0]
            return str(row[0]), int(row[1])

        for attempt in range(STALLED_RETRIES):
            _stall(pg_runtime, task, "1 hour")
            if attempt == 0:
                _stall(pg_runtime, drain, "1 hour")
            assert dispatcher.recover_stalled(stalled_after) >= 1
            assert status(task) == ("todo", attempt + 1)
            assert status(drain)[0] == "failed"
        _stall(pg_runtime, task, "1 hour")
        dispatcher.recover_stalled(stalled_after)
        assert status(task)[0] == "failed"
        # A worker with a fresh heartbeat keeps its job.
        assert status(alive) == ("doing", 0)
        with pg_runtime.engine.begin() as conn:
            conn.execute(
                text("DELETE FROM procrastinate_jobs WHERE id = ANY(:ids)"),
                {"ids": [task, drain, alive]},
            )
