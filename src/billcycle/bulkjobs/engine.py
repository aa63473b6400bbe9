"""The bulk-job machinery that runs in workers: validating records and processing them
(writing invoices off), chunk by chunk on the job layer.

Each chunk is one transaction that takes the job's row lock FIRST, re-checks the job's
status, writes its records' outcomes (and, when processing, the write-offs), adds its
counts to the job, finishes the job when it was the last, and marks the chunk done. A
cancel takes the same lock and cancels the open chunks, so a chunk either commits
before the cancel (its records stay Processed) or rolls back entirely (the cancel marks
its records FailedProcessing): no record is ever both written off and failed. A worker
killed mid-chunk leaves nothing behind, and the chunk is claimed again after its lease.
"""

from __future__ import annotations

import logging
import threading
import time

from billcycle.bulkjobs import records
from billcycle.bulkjobs import repository as repo
from billcycle.bulkjobs import statuses as st
from billcycle.bulkjobs.models import BulkJob
from billcycle.context import ServiceContext
from billcycle.invoicing import repository as invoice_repo
from billcycle.invoicing.models import Invoice
from billcycle.jobs import chunks
from billcycle.jobs.chunks import ClaimedChunk
from billcycle.jobs.registry import chunk_handler
from billcycle.jobs.runner import JobRunner
from billcycle.ledger import service as ledger

log = logging.getLogger(__name__)

VALIDATE = "bulk_job_validate"
PROCESS = "bulk_job_process"

# The ledger entry's source for write-offs made through the Fusebill dialect.
SOURCE = "Fusebill"

NOT_VALIDATED = "Could not be validated: an internal error occurred (see the server log)."
NOT_PROCESSED = "Could not be processed: an internal error occurred (see the server log)."


# SQLite has one writer, and its busy handler polls (every 100 ms at most) for the write
# lock, so a drain committing chunk after chunk would starve an API write such as a
# cancel. Before a chunk's first write, a worker that has written for a while pauses
# long enough for a waiting writer's next poll.
_WRITE_TURN_SECONDS = 0.5
_PAUSE_SECONDS = 0.12
_last_pause = threading.local()


def _let_writers_in(ctx: ServiceContext) -> None:
    if ctx.session.get_bind().dialect.name != "sqlite":
        return
    now = time.monotonic()
    last: float | None = getattr(_last_pause, "at", None)
    if last is None:
        _last_pause.at = now
    elif now - last >= _WRITE_TURN_SECONDS:
        time.sleep(_PAUSE_SECONDS)
        _last_pause.at = time.monotonic()


def _start(ctx: ServiceContext, kind: str, job_id: int) -> None:
    """One drain per job once ``ctx`` commits: its chunks serialise on the job's row lock
    anyway, and the reaper re-dispatches a drain whose worker died."""
    ctx.enqueue("drain", kind=kind, parent_id=job_id)


# -- validation ------------------------------------------------------------------------------


def plan_validation(ctx: ServiceContext, job: BulkJob, chunk_size: int) -> None:
    ranges = repo.seq_ranges(job.total_records, chunk_size)
    chunks.plan(
        ctx.session,
        tenant_id=job.tenant_id,
        kind=VALIDATE,
        parent_id=job.id,
        ranges=ranges,
        now=ctx.clock.now(),
    )
    _start(ctx, VALIDATE, job.id)


def _after_validation(ctx: ServiceContext, job_id: int, counts: repo.Counts) -> None:
    if counts.validated < counts.total_records:
        return
    if counts.successful_records == 0:
        status = st.FAILED  # nothing could be processed
    elif counts.failed_records == 0:
        status = st.VALIDATED
    else:
        status = st.VALIDATED_WITH_ERRORS
    now = ctx.clock.now()
    repo.transition(ctx.session, job_id, [st.VALIDATING], status, completed_at=now, modified_at=now)


class ValidateChunk:
    def process(self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk) -> None:
        _let_writers_in(ctx)
        job = repo.lock_job(ctx.session, chunk.tenant_id, chunk.parent_id)
        if job is None or job.status != st.VALIDATING:
            return  # cancelled meanwhile: the chunk was cancelled too and rolls back
        facts = repo.validation_facts(
            ctx.session, job.tenant_id, job.id, chunk.first_id, chunk.last_id
        )
        passed, failed = records.judge(facts)
        repo.set_status(ctx.session, passed, st.PASSED_VALIDATION, None)
        for reason, record_ids in failed.items():
            repo.set_status(ctx.session, record_ids, st.FAILED_VALIDATION, reason)
        counts = repo.add_counts(
            ctx.session,
            job.id,
            now=ctx.clock.now(),
            passed=len(passed),
            failed=sum(len(ids) for ids in failed.values()),
        )
        _after_validation(ctx, job.id, counts)

    def give_up(
        self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk, error: str
    ) -> None:
        log.error(
            "validating chunk %s of bulk job %s gave up: %s", chunk.seq, chunk.parent_id, error
        )
        job = repo.lock_job(ctx.session, chunk.tenant_id, chunk.parent_id)
        if job is None or job.status != st.VALIDATING:
            return
        count = repo.fail_range(
            ctx.session,
            job.id,
            chunk.first_id,
            chunk.last_id,
            st.PENDING,
            st.FAILED_VALIDATION,
            NOT_VALIDATED,
        )
        counts = repo.add_counts(ctx.session, job.id, now=ctx.clock.now(), failed=count)
        _after_validation(ctx, job.id, counts)


# -- processing ------------------------------------------------------------------------------


def plan_processing(ctx: ServiceContext, job: BulkJob, chunk_size: int) -> None:
    """Cut the records that passed validation into chunks and start a drain; a job with
    none to process finishes at once."""
    ranges = repo.passed_ranges(ctx.session, job.id, chunk_size)
    chunks.plan(
        ctx.session,
        tenant_id=job.tenant_id,
        kind=PROCESS,
        parent_id=job.id,
        ranges=ranges,
        now=ctx.clock.now(),
    )
    if ranges:
        _start(ctx, PROCESS, job.id)
    else:
        counts = repo.add_counts(ctx.session, job.id, now=ctx.clock.now())
        _after_processing(ctx, job.id, counts)


def _after_processing(ctx: ServiceContext, job_id: int, counts: repo.Counts) -> None:
    if counts.total_processed_records < counts.successful_records:
        return
    clean = counts.failed_records == 0 and counts.failed_processed_records == 0
    status = st.PROCESSED if clean else st.PROCESSED_WITH_ERRORS
    now = ctx.clock.now()
    repo.transition(ctx.session, job_id, [st.PROCESSING], status, processed_at=now, modified_at=now)


def _write_off_chunk(
    ctx: ServiceContext, job: BulkJob, pairs: list[tuple[int, int]]
) -> tuple[list[tuple[int, int]], dict[str, list[int]]]:
    """Write off each record's invoice in full, re-checked under the invoices' locks:
    returns ((record id, write-off id) created, failure reason -> record ids)."""
    session = ctx.session
    invoice_ids = [invoice_id for _, invoice_id in pairs]
    invoice_repo.lock_invoices(session, job.tenant_id, invoice_ids, with_accounts=False)
    found = repo.invoices_with_owner_status(session, job.tenant_id, invoice_ids)
    balances = ledger.invoice_balances(session, job.tenant_id, invoice_ids)
    created: list[tuple[int, int]] = []
    failed: dict[str, list[int]] = {}
    eligible: list[tuple[int, Invoice]] = []
    for record_id, invoice_id in pairs:
        row = found.get(invoice_id)
        reason: str | None
        if row is None:
            reason = records.NOT_FOUND
        else:
            invoice, account_status = row
            reason = records.failure_of(
                records.InvoiceFacts(
                    record_id,
                    None,
                    invoice_id,
                    invoice.status,
                    account_status,
                    balances.get(invoice_id),
                )
            )
            if reason == records.NO_BALANCE:
                reason = records.NO_BALANCE_ANY_MORE
            if reason is None:
                eligible.append((record_id, invoice))
        if reason is not None:
            failed.setdefault(reason, []).append(record_id)
    # One statement for the chunk's write-offs: the locks above keep the balances fixed.
    written = ledger.write_off_locked(
        ctx,
        [invoice for _, invoice in eligible],
        balances,
        reference=job.reference,
        source=SOURCE,
    )
    created = [(record_id, written[invoice.id]) for record_id, invoice in eligible]
    return created, failed


class ProcessChunk:
    def process(self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk) -> None:
        _let_writers_in(ctx)
        job = repo.lock_job(ctx.session, chunk.tenant_id, chunk.parent_id)
        if job is None or job.status != st.PROCESSING:
            return  # cancelled meanwhile: the chunk was cancelled too and rolls back
        pairs = repo.records_in_range(
            ctx.session, job.id, chunk.first_id, chunk.last_id, st.PASSED_VALIDATION
        )
        created, failed = _write_off_chunk(ctx, job, pairs) if pairs else ([], {})
        repo.set_processed(ctx.session, created)
        for reason, record_ids in failed.items():
            repo.set_status(ctx.session, record_ids, st.FAILED_PROCESSING, reason)
        counts = repo.add_counts(
            ctx.session,
            job.id,
            now=ctx.clock.now(),
            processed=len(created),
            failed_processing=sum(len(ids) for ids in failed.values()),
        )
        _after_processing(ctx, job.id, counts)

    def give_up(
        self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk, error: str
    ) -> None:
        log.error(
            "processing chunk %s of bulk job %s gave up: %s", chunk.seq, chunk.parent_id, error
        )
        job = repo.lock_job(ctx.session, chunk.tenant_id, chunk.parent_id)
        if job is None or job.status != st.PROCESSING:
            return
        count = repo.fail_range(
            ctx.session,
            job.id,
            chunk.first_id,
            chunk.last_id,
            st.PASSED_VALIDATION,
            st.FAILED_PROCESSING,
            NOT_PROCESSED,
        )
        counts = repo.add_counts(ctx.session, job.id, now=ctx.clock.now(), failed_processing=count)
        _after_processing(ctx, job.id, counts)


def cancel_chunks(ctx: ServiceContext, job_id: int) -> None:
    """Cancel the job's open chunks: a worker holding one fails to complete it and its
    whole transaction rolls back."""
    now = ctx.clock.now()
    for kind in (VALIDATE, PROCESS):
        chunks.cancel_open(ctx.session, kind=kind, parent_id=job_id, now=now)


chunk_handler(VALIDATE, ValidateChunk())
chunk_handler(PROCESS, ProcessChunk())
