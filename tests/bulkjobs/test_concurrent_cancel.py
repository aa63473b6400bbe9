"""A large job processed by real worker threads while the test cancels it mid-way: every
record ends either written off (a ledger entry, record Processed with the entry's id) or
FailedProcessing with no entry, never both, and the counters match the records."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import replace

from sqlalchemy import select

from billcycle.bulkjobs import tasks
from billcycle.db.session import unit_of_work
from billcycle.jobs import wiring
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.jobs.models import WorkChunk
from billcycle.runtime import Runtime
from billcycle.tenancy.service import set_bulk_jobs
from tests.bulkjobs.bulk_data import insert_posted_invoices
from tests.bulkjobs.helpers import cancel, create, job_row, ok, poll, process, records, write_offs
from tests.support.api import Api

# PostgreSQL: 50,000 records, cancelled once 5,000 are written off (about a second of
# processing with two workers). SQLite: 80,000, so that processing (one worker, a chunk's
# write-offs in a few statements) still runs when the cancel gets the write lock, which
# the worker lets it have before its next chunk (it sees the cancel waiting for the lock:
# ``db.engine.wait_for_waiting_writers``).
SIZES = {"postgresql": 50_000, "sqlite": 80_000}
CHUNK = {"postgresql": 500, "sqlite": 250}


def _size(runtime: Runtime) -> int:
    backend = runtime.engine.dialect.name
    return int(os.environ.get("BILLCYCLE_TEST_BULK_SIZE", SIZES[backend]))


def test_cancel_mid_processing_never_writes_off_a_failed_record(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    backend = runtime.engine.dialect.name
    size = _size(runtime)
    runtime.settings = runtime.settings.model_copy(update={"bulk_job_chunk_size": CHUNK[backend]})
    tenant_id = api.tenant.tenant_id
    with unit_of_work(runtime.session_factory) as session:
        set_bulk_jobs(session, tenant_id, True, record_limit=size)
    invoice_ids = insert_posted_invoices(runtime, tenant_id, size)

    started = time.monotonic()
    job_id = create(api, invoice_ids)["id"]
    created = time.monotonic()
    jobs.run_until_idle()  # validation, through the real runner in this thread
    validated = time.monotonic()
    assert poll(api, job_id, full=False)["status"] == "Validated"
    assert ok(process(api, job_id))["status"] == "Processing"

    # Real workers in threads, on their own runner (the drain the API queued stays in
    # ``jobs`` and runs last: it must find nothing left to do).
    worker_runtime = replace(runtime, dispatcher=None)
    _, runner = wiring.manual(worker_runtime)
    threads = [
        threading.Thread(target=runner.drain, args=(tasks.PROCESS, job_id), daemon=True)
        for _ in range(2 if backend == "postgresql" else 1)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while job_row(runtime, job_id).processed_records < size // 10:
        assert time.monotonic() < deadline, "the workers made no progress"
        assert any(t.is_alive() for t in threads), "the workers finished before the cancel"
        time.sleep(0.01)
    cancelled = ok(cancel(api, job_id))
    cancel_at = time.monotonic()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive()
    jobs.run_until_idle()
    finished = time.monotonic()
    print(  # timings for the report (pytest -s)
        f"\n{backend}: {size} records; create {created - started:.1f}s, validate "
        f"{validated - created:.1f}s, process until cancel {cancel_at - validated:.1f}s, "
        f"workers stopped {finished - cancel_at:.1f}s after the cancel"
    )

    # The job as the cancel answered it is the job as it stays.
    assert cancelled["status"] == "ProcessedWithErrors"
    assert poll(api, job_id) == cancelled
    rows = records(runtime, job_id)
    assert len(rows) == size
    entries = write_offs(runtime, tenant_id)
    statuses = Counter(row.status for row in rows)
    assert set(statuses) == {"Processed", "FailedProcessing"}
    assert 0 < statuses["Processed"] < size
    for row in rows:
        entry = entries.get(int(row.data))
        if row.status == "Processed":
            assert entry is not None
            assert row.created_entity_id == entry.id
            assert row.details is None
        else:
            assert entry is None, f"record {row.id} failed but its invoice was written off"
            assert row.details == "Manually marked as Failed."
            assert row.created_entity_id is None
    assert len(entries) == statuses["Processed"]
    assert cancelled["processedRecords"] == statuses["Processed"]
    assert cancelled["failedProcessedRecords"] == statuses["FailedProcessing"]
    assert cancelled["totalProcessedRecords"] == size
    assert (cancelled["successfulRecords"], cancelled["failedRecords"]) == (size, 0)
    # Whole chunks only: each chunk's write-offs committed together or not at all.
    with runtime.service_context(tenant_id) as ctx:
        ranges = ctx.session.execute(
            select(WorkChunk.first_id, WorkChunk.last_id, WorkChunk.status).where(
                WorkChunk.kind == tasks.PROCESS, WorkChunk.parent_id == job_id
            )
        ).all()
    by_seq = {row.seq: row.status for row in rows}
    for first, last, chunk_status in ranges:
        seen = {by_seq[seq] for seq in range(first, last + 1)}
        assert seen == ({"Processed"} if chunk_status == "done" else {"FailedProcessing"})
