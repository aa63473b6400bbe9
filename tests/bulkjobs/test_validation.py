"""What validation accepts and refuses, what processing re-checks, and the counters and
timestamps a client polling in between sees."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from billcycle.bulkjobs import tasks
from billcycle.clock import FrozenClock
from billcycle.db.session import unit_of_work
from billcycle.invoicing.models import Invoice
from billcycle.jobs import chunks
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.jobs.registry import REGISTRY
from billcycle.jobs.runner import JobRunner
from billcycle.ledger import service as ledger
from billcycle.runtime import Runtime
from billcycle.tenancy.service import create_tenant
from tests.bulkjobs.helpers import (
    create,
    ok,
    poll,
    posted_invoices,
    process,
    write_offs,
)
from tests.support.api import Api


def write_off_now(runtime: Runtime, tenant_id: int, invoice_id: int) -> None:
    with runtime.service_context(tenant_id) as ctx:
        invoice = ctx.session.get(Invoice, invoice_id)
        assert invoice is not None
        balance = ledger.invoice_balance(ctx.session, tenant_id, invoice_id)
        ledger.apply_write_off(
            ctx, invoice, Decimal(balance) / 100, reference="x", comment=None, source="API"
        )


def test_each_rule_and_the_counters(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    tenant_id = api.tenant.tenant_id
    good = posted_invoices(runtime, tenant_id, 2).invoice_ids
    cancelled_customer = posted_invoices(runtime, tenant_id, 1, account_status="Canceled")
    draft_customer = posted_invoices(runtime, tenant_id, 1, account_status="Draft")
    draft_invoice = posted_invoices(runtime, tenant_id, 1, status="Draft").invoice_ids[0]
    paid = posted_invoices(runtime, tenant_id, 1).invoice_ids[0]
    write_off_now(runtime, tenant_id, paid)
    with unit_of_work(runtime.session_factory) as session:
        other = create_tenant(session, runtime.clock, "other", bulk_jobs=True)
    foreign = posted_invoices(runtime, other.tenant_id, 1).invoice_ids[0]

    data = [
        good[0],
        cancelled_customer.invoice_ids[0],
        draft_customer.invoice_ids[0],
        draft_invoice,
        paid,
        999_999_999,
        foreign,
        good[0],  # a duplicate
        good[1],
    ]
    job_id = create(api, data)["id"]
    clock.advance(timedelta(seconds=5, milliseconds=250))
    jobs.run_until_idle()
    job = poll(api, job_id)
    assert job["status"] == "ValidatedWithErrors"
    assert (job["totalRecords"], job["successfulRecords"], job["failedRecords"]) == (9, 3, 6)
    assert job["completedTimestamp"] == "2026-01-10T09:00:05.250"
    assert job["modifiedTimestamp"] == "2026-01-10T09:00:05.250"
    assert job["createdTimestamp"] == "2026-01-10T09:00:00"
    assert [(r["status"], r["details"]) for r in job["records"]] == [
        ("PassedValidation", None),
        ("PassedValidation", None),
        (
            "FailedValidation",
            "Customer status is Draft: the customer must be Active or Cancelled.",
        ),
        (
            "FailedValidation",
            "Invoice status is Draft: only posted invoices can be written off.",
        ),
        ("FailedValidation", "Invoice has no outstanding balance to write off."),
        ("FailedValidation", "Invoice not found."),
        ("FailedValidation", "Invoice not found."),
        (
            "FailedValidation",
            "Invoice appears more than once in this job; only its first record is written off.",
        ),
        ("PassedValidation", None),
    ]
    assert [r["data"] for r in job["records"]] == [str(i) for i in data]

    # Paid in between: processing re-checks under the invoice's lock.
    write_off_now(runtime, tenant_id, good[1])
    clock.advance(timedelta(minutes=1))
    assert ok(process(api, job_id))["importingTimestamp"] == "2026-01-10T09:01:05.250"
    jobs.run_until_idle()
    done = poll(api, job_id)
    assert done["status"] == "ProcessedWithErrors"
    assert (
        done["totalProcessedRecords"],
        done["processedRecords"],
        done["failedProcessedRecords"],
    ) == (3, 2, 1)
    assert done["processedTimestamp"] == "2026-01-10T09:01:05.250"
    last = done["records"][-1]
    assert (last["status"], last["createdEntityId"]) == ("FailedProcessing", None)
    assert last["details"] == (
        "Invoice has no outstanding balance to write off any more (paid or written off since "
        "validation)."
    )
    entries = write_offs(runtime, tenant_id)
    first, second = done["records"][:2]
    assert (first["status"], first["createdEntityId"]) == ("Processed", entries[good[0]].id)
    customer = cancelled_customer.invoice_ids[0]
    assert (second["status"], second["createdEntityId"]) == ("Processed", entries[customer].id)
    assert {r["status"] for r in done["records"][2:8]} == {"FailedValidation"}
    assert entries[good[1]].source == "API"  # the one written off in between, not by the job
    assert write_offs(runtime, other.tenant_id) == {}


def test_nothing_passes_means_failed_and_no_processing(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    job_id = create(api, [123_456_789, 123_456_790])["id"]
    jobs.run_until_idle()
    job = poll(api, job_id)
    assert job["status"] == "Failed"
    assert (job["successfulRecords"], job["failedRecords"]) == (0, 2)
    response = process(api, job_id)
    assert response.status_code == 400
    assert response.json()["Errors"][0]["Value"] == (
        "Account upload status Failed, is not a valid status for processing."
    )
    # A failed job is finished: it blocks nothing.
    assert create(api, [1])["status"] == "Validating"


def run_one_chunk(runtime: Runtime, kind: str, job_id: int) -> None:
    """One chunk, exactly as a drain runs it (claim; work and completion in one unit)."""
    handler = REGISTRY.chunk_handlers[kind]
    runner = JobRunner(runtime, ManualDispatcher())
    with unit_of_work(runtime.session_factory) as session:
        chunk = chunks.claim_next(
            session,
            kind=kind,
            parent_id=job_id,
            worker="test",
            now=runtime.machine_clock.now(),
            lease=timedelta(minutes=1),
        )
    assert chunk is not None
    with runtime.service_context(chunk.tenant_id) as ctx:
        handler.process(runner, ctx, chunk)
        assert chunks.complete(
            ctx.session, chunk.id, worker="test", now=runtime.machine_clock.now()
        )


def test_counters_are_true_between_chunks(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """Chunks of 3 records: after each chunk's commit the job counts exactly its records."""
    billed = posted_invoices(runtime, api.tenant.tenant_id, 7)
    job_id = create(api, billed.invoice_ids)["id"]
    seen = []
    for _ in range(3):
        run_one_chunk(runtime, tasks.VALIDATE, job_id)
        job = poll(api, job_id)
        statuses = [r["status"] for r in job["records"]]
        assert job["successfulRecords"] == statuses.count("PassedValidation")
        seen.append((job["status"], job["successfulRecords"], job["completedTimestamp"]))
    assert seen == [
        ("Validating", 3, None),
        ("Validating", 6, None),
        ("Validated", 7, "2026-01-10T09:00:00"),
    ]
    ok(process(api, job_id))
    seen = []
    for _ in range(3):
        run_one_chunk(runtime, tasks.PROCESS, job_id)
        job = poll(api, job_id)
        statuses = [r["status"] for r in job["records"]]
        assert job["processedRecords"] == statuses.count("Processed")
        assert job["totalProcessedRecords"] == job["processedRecords"]
        seen.append((job["status"], job["processedRecords"], job["processedTimestamp"]))
    assert seen == [
        ("Processing", 3, None),
        ("Processing", 6, None),
        ("Processed", 7, "2026-01-10T09:00:00"),
    ]
    assert len(write_offs(runtime, api.tenant.tenant_id)) == 7
    jobs.run_until_idle()  # the drains the API queued find nothing left
    assert poll(api, job_id) == job


def test_a_crashed_worker_writes_nothing_off_twice(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, machine_clock: FrozenClock
) -> None:
    """A worker dies mid-chunk (its transaction never commits) holding the chunk's lease:
    once the lease runs out another drain takes the chunk over and each invoice is
    written off exactly once."""
    tenant_id = api.tenant.tenant_id
    billed = posted_invoices(runtime, tenant_id, 5)
    job_id = create(api, billed.invoice_ids)["id"]
    jobs.run_until_idle()
    ok(process(api, job_id))
    handler = REGISTRY.chunk_handlers[tasks.PROCESS]
    runner = JobRunner(runtime, ManualDispatcher())
    with unit_of_work(runtime.session_factory) as session:
        chunk = chunks.claim_next(
            session,
            kind=tasks.PROCESS,
            parent_id=job_id,
            worker="doomed",
            now=machine_clock.now(),
            lease=timedelta(seconds=runtime.settings.worker_lease_seconds),
        )
    assert chunk is not None

    class Crash(Exception):
        pass

    try:
        with runtime.service_context(tenant_id) as ctx:
            handler.process(runner, ctx, chunk)
            raise Crash  # the process dies before committing
    except Crash:
        pass
    assert write_offs(runtime, tenant_id) == {}
    jobs.run_until_idle()  # the API's drain does the other chunk; this one is leased
    assert poll(api, job_id)["status"] == "Processing"
    machine_clock.advance(timedelta(seconds=runtime.settings.worker_lease_seconds + 1))
    # What the reaper dispatches for a lost chunk: another drain of the job.
    assert runner.drain(tasks.PROCESS, job_id) == 1
    done = poll(api, job_id)
    assert done["status"] == "Processed"
    assert done["processedRecords"] == 5
    assert set(write_offs(runtime, tenant_id)) == set(billed.invoice_ids)


def test_a_chunk_that_fails_every_attempt_fails_only_its_records(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    billed = posted_invoices(runtime, tenant_id, 5)
    job_id = create(api, billed.invoice_ids)["id"]
    for kind in (tasks.VALIDATE, tasks.PROCESS):
        if kind == tasks.PROCESS:
            ok(process(api, job_id))
        handler = REGISTRY.chunk_handlers[kind]
        runner = JobRunner(runtime, ManualDispatcher())
        with unit_of_work(runtime.session_factory) as session:
            chunk = chunks.claim_next(
                session,
                kind=kind,
                parent_id=job_id,
                worker="w",
                now=runtime.machine_clock.now(),
                lease=timedelta(minutes=1),
            )
        assert chunk is not None
        with runtime.service_context(tenant_id) as ctx:
            chunks.mark_failed(
                ctx.session, chunk.id, worker="w", error="boom", now=ctx.machine_clock.now()
            )
            handler.give_up(runner, ctx, chunk, "boom")
        jobs.run_until_idle()
    job = poll(api, job_id)
    assert job["status"] == "ProcessedWithErrors"
    assert (job["successfulRecords"], job["failedRecords"]) == (2, 3)
    assert (job["processedRecords"], job["failedProcessedRecords"]) == (0, 2)
    details = [(r["status"], r["details"]) for r in job["records"]]
    assert details[:3] == [("FailedValidation", tasks.NOT_VALIDATED)] * 3
    assert details[3:] == [("FailedProcessing", tasks.NOT_PROCESSED)] * 2
    assert write_offs(runtime, tenant_id) == {}
