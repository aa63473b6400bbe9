"""Processing writes a chunk's records off in a few set-based statements: what it re-checks
at processing time, how a big job is cut, and that every record points at its own
write-off."""

from __future__ import annotations

from sqlalchemy import select, update

from billcycle.accounts.models import Account
from billcycle.bulkjobs import tasks
from billcycle.invoicing.models import Invoice
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.jobs.models import WorkChunk
from billcycle.runtime import Runtime
from tests.bulkjobs.bulk_data import insert_posted_invoices
from tests.bulkjobs.helpers import (
    CHUNK_SIZE,
    create,
    ok,
    poll,
    posted_invoices,
    process,
    records,
    write_offs,
)
from tests.support.api import Api


def _chunks(runtime: Runtime, kind: str, job_id: int) -> list[tuple[int, int, int, str]]:
    with runtime.service_context(0) as ctx:
        rows = ctx.session.execute(
            select(WorkChunk.first_id, WorkChunk.last_id, WorkChunk.size, WorkChunk.status)
            .where(WorkChunk.kind == kind, WorkChunk.parent_id == job_id)
            .order_by(WorkChunk.seq)
        ).all()
    return [(first, last, size, status) for first, last, size, status in rows]


def test_processing_rechecks_customer_and_invoice(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """What changed since validation fails only its own records, with the reason it fails
    now; the rest of their chunks is written off."""
    tenant_id = api.tenant.tenant_id
    first = posted_invoices(runtime, tenant_id, 3)
    suspended = posted_invoices(runtime, tenant_id, 2)
    gone = posted_invoices(runtime, tenant_id, 1)
    data = [*first.invoice_ids, *suspended.invoice_ids, *gone.invoice_ids]
    job_id = create(api, data)["id"]
    jobs.run_until_idle()
    assert poll(api, job_id, full=False)["status"] == "Validated"

    with runtime.service_context(tenant_id) as ctx:
        ctx.session.execute(
            update(Account).where(Account.id == suspended.account_id).values(status="Suspended")
        )
        ctx.session.execute(
            update(Invoice).where(Invoice.id == gone.invoice_ids[0]).values(status="Canceled")
        )
    ok(process(api, job_id))
    jobs.run_until_idle()

    done = poll(api, job_id)
    assert done["status"] == "ProcessedWithErrors"
    assert (done["processedRecords"], done["failedProcessedRecords"]) == (3, 3)
    assert done["totalProcessedRecords"] == 6
    entries = write_offs(runtime, tenant_id)
    assert set(entries) == set(first.invoice_ids)
    outcome = [(r["status"], r["details"], r["createdEntityId"]) for r in done["records"]]
    assert outcome[:3] == [
        ("Processed", None, entries[invoice_id].id) for invoice_id in first.invoice_ids
    ]
    customer = "Customer status is Suspended: the customer must be Active or Cancelled."
    assert outcome[3:5] == [("FailedProcessing", customer, None)] * 2
    canceled = "Invoice status is Canceled: only posted invoices can be written off."
    assert outcome[5] == ("FailedProcessing", canceled, None)
    # Chunks of CHUNK_SIZE records, each done once.
    assert [c[3] for c in _chunks(runtime, tasks.PROCESS, job_id)] == ["done", "done"]


def test_a_big_job_is_cut_into_at_most_max_chunks(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """Past MAX_CHUNKS chunks of the configured size, chunks grow instead; every record
    is still validated and written off once, and points at its own write-off."""
    tenant_id = api.tenant.tenant_id
    size = tasks.MAX_CHUNKS * CHUNK_SIZE + 101
    invoice_ids = insert_posted_invoices(runtime, tenant_id, size)
    job_id = create(api, invoice_ids)["id"]
    jobs.run_until_idle()
    per_chunk = tasks.chunk_size_for(size, CHUNK_SIZE)
    assert per_chunk > CHUNK_SIZE
    validation = _chunks(runtime, tasks.VALIDATE, job_id)
    assert len(validation) <= tasks.MAX_CHUNKS
    assert {c[2] for c in validation[:-1]} == {per_chunk}
    assert sum(c[2] for c in validation) == size
    assert poll(api, job_id, full=False)["successfulRecords"] == size

    ok(process(api, job_id))
    jobs.run_until_idle()
    processing = _chunks(runtime, tasks.PROCESS, job_id)
    assert len(processing) <= tasks.MAX_CHUNKS
    assert {c[2] for c in processing[:-1]} == {per_chunk}
    assert {c[3] for c in processing} == {"done"}
    done = poll(api, job_id, full=False)
    assert (done["status"], done["processedRecords"]) == ("Processed", size)

    entries = write_offs(runtime, tenant_id)
    rows = records(runtime, job_id)
    assert len(entries) == len(rows) == size
    for row in rows:
        entry = entries[int(row.data)]
        assert (row.status, row.created_entity_id, row.details) == ("Processed", entry.id, None)
        assert entry.amount_minor == 1234


def test_small_jobs_keep_the_configured_chunk_size() -> None:
    assert tasks.chunk_size_for(10, 3) == 3
    assert tasks.chunk_size_for(tasks.MAX_CHUNKS * 1000, 1000) == 1000
    assert tasks.chunk_size_for(tasks.MAX_CHUNKS * 1000 + 1, 1000) == 1001
    assert tasks.chunk_size_for(1_000_000, 1000) == 5000
