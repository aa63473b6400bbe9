"""The bulk-job machinery that runs in workers: validating records and processing them
(writing invoices off), chunk by chunk on the job layer.

Each chunk is one transaction of a few set-based statements, whatever its size: read the
job's status under a shared lock (``repository.share_job``), judge or write off the whole
range server-side, add its counts to the job with an atomic increment, finish the job when
it was the last, and mark the chunk done. Chunks of one job run side by side; a cancel
takes the job's exclusive lock, so it waits for every chunk in flight and a chunk starting
after it sees the job cancelled. A chunk either commits before the cancel (its records
stay Processed, with their write-offs) or does nothing (the cancel marks its records
FailedProcessing): no record is ever both written off and failed. A worker killed
mid-chunk leaves nothing behind, and the chunk is claimed again after its lease.
"""

from __future__ import annotations

import logging

from billcycle.bulkjobs import records
from billcycle.bulkjobs import repository as repo
from billcycle.bulkjobs.models import BulkJob
from billcycle.bulkjobs.statuses import BulkJobStatus, BulkJobType, RecordStatus
from billcycle.bulkjobs.transitions import transition
from billcycle.context import ServiceContext
from billcycle.db.engine import wait_for_waiting_writers
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.jobs import chunks
from billcycle.jobs.chunks import ClaimedChunk
from billcycle.jobs.registry import chunk_handler
from billcycle.jobs.runner import JobRunner
from billcycle.ledger import service as ledger
from billcycle.ledger.models import EntrySource
from billcycle.webhooks import service as webhooks

log = logging.getLogger(__name__)

VALIDATE = "bulk_job_validate"
PROCESS = "bulk_job_process"
# BulkPayment's chunks (handled in ``payment_tasks``).
PAYMENT_VALIDATE = "bulk_payment_validate"
PAYMENT_PROCESS = "bulk_payment_process"
_KINDS = {
    BulkJobType.BULK_WRITE_OFF: (VALIDATE, PROCESS),
    BulkJobType.BULK_PAYMENT: (PAYMENT_VALIDATE, PAYMENT_PROCESS),
}

# The ledger entry's source for write-offs made through the Fusebill dialect.

NOT_VALIDATED = "Could not be validated: an internal error occurred (see the server log)."
NOT_PROCESSED = "Could not be processed: an internal error occurred (see the server log)."


# SQLite has one writer, and its busy handler polls (every 100 ms at most) for the write
# lock, so a drain committing chunk after chunk would starve an API write such as a
# cancel. Before a chunk's first write (holding no lock), a worker that finds another
# writer waiting for the lock (``db.engine.wait_for_waiting_writers``: every writer of
# the application's engines records its wish while it waits) pauses until that writer
# has the lock, one poll of its busy handler at most, or ``_PAUSE_AT_MOST`` seconds. With
# no one waiting it does not pause (it used to pause 120 ms every half second of writing
# whether or not anyone waited: ~10% of a million-record BulkPayment's time).
_PAUSE_AT_MOST = 1.0


def _let_writers_in(ctx: ServiceContext) -> None:
    """Let a writer waiting for SQLite's write lock in before this chunk writes."""
    wait_for_waiting_writers(ctx.session.get_bind().engine, _PAUSE_AT_MOST)


# A job is cut into at most this many chunks: the configured chunk size holds for jobs up
# to 200 chunks, bigger jobs get bigger chunks. A chunk's fixed cost (its claim, commit,
# job counters and statements: a few milliseconds) is then under 5% of its work, and a
# million-record job's chunks still take a fraction of a second each, well within a
# lease and short for a cancel to wait for.
MAX_CHUNKS = 200


def chunk_size_for(records: int, configured: int) -> int:
    """Records per chunk for a job step of ``records`` records."""
    return max(configured, -(-records // MAX_CHUNKS))


# Drains dispatched per job step: chunks of a job run side by side (they share the job's
# lock), so a second worker, or a worker running two jobs at once, takes a share; with
# one worker the second drain finds nothing left.
DRAINS = 2


def _start(ctx: ServiceContext, kind: str, job_id: int, chunk_count: int) -> None:
    """Drains for the job once ``ctx`` commits (the reaper re-dispatches one for chunks
    whose worker died)."""
    for _ in range(max(1, min(DRAINS, chunk_count))):
        ctx.enqueue("drain", kind=kind, parent_id=job_id)


# -- validation ------------------------------------------------------------------------------


def plan_validation(ctx: ServiceContext, job: BulkJob, chunk_size: int) -> None:
    kind = _KINDS[BulkJobType(job.type)][0]
    ranges = repo.seq_ranges(job.total_records, chunk_size_for(job.total_records, chunk_size))
    chunks.plan(
        ctx.session,
        tenant_id=job.tenant_id,
        kind=kind,
        parent_id=job.id,
        ranges=ranges,
        now=ctx.machine_clock.now(),
    )
    _start(ctx, kind, job.id, len(ranges))


def _after_validation(ctx: ServiceContext, job_id: int, counts: repo.Counts) -> None:
    if counts.validated < counts.total_records:
        return
    if counts.successful_records == 0:
        status = BulkJobStatus.FAILED  # nothing could be processed
    elif counts.failed_records == 0:
        status = BulkJobStatus.VALIDATED
    else:
        status = BulkJobStatus.VALIDATED_WITH_ERRORS
    now = ctx.clock.now()
    transition(ctx, job_id, [BulkJobStatus.VALIDATING], status, completed_at=now, modified_at=now)


class ValidateChunk:
    def process(self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk) -> None:
        _let_writers_in(ctx)
        session = ctx.session
        repo.plan_chunk_as_lookups(session)
        job = repo.share_job(session, chunk.tenant_id, chunk.parent_id)
        if job is None or job.status != BulkJobStatus.VALIDATING:
            return  # cancelled meanwhile: the chunk was cancelled too and rolls back
        job_id, first, last = chunk.parent_id, chunk.first_id, chunk.last_id
        _, failed = records.judge(
            repo.validation_suspects(session, chunk.tenant_id, job_id, first, last)
        )
        for reason, record_ids in failed.items():
            repo.set_status(session, record_ids, RecordStatus.FAILED_VALIDATION, reason)
        passed = repo.pass_pending(session, job_id, first, last)
        counts = repo.add_counts(
            session,
            job_id,
            now=ctx.clock.now(),
            passed=passed,
            failed=sum(len(ids) for ids in failed.values()),
        )
        _after_validation(ctx, job_id, counts)

    def give_up(
        self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk, error: str
    ) -> None:
        log.error(
            "validating chunk %s of bulk job %s gave up: %s", chunk.seq, chunk.parent_id, error
        )
        job = repo.lock_job(ctx.session, chunk.tenant_id, chunk.parent_id)
        if job is None or job.status != BulkJobStatus.VALIDATING:
            return
        count = repo.fail_range(
            ctx.session,
            job.id,
            chunk.first_id,
            chunk.last_id,
            RecordStatus.PENDING,
            RecordStatus.FAILED_VALIDATION,
            NOT_VALIDATED,
        )
        counts = repo.add_counts(ctx.session, job.id, now=ctx.clock.now(), failed=count)
        _after_validation(ctx, job.id, counts)


# -- processing ------------------------------------------------------------------------------


def plan_processing(ctx: ServiceContext, job: BulkJob, chunk_size: int) -> None:
    """Cut the records that passed validation into chunks and start a drain; a job with
    none to process finishes at once."""
    kind = _KINDS[BulkJobType(job.type)][1]
    size = chunk_size_for(job.successful_records, chunk_size)
    ranges = repo.passed_ranges(ctx.session, job.id, size)
    chunks.plan(
        ctx.session,
        tenant_id=job.tenant_id,
        kind=kind,
        parent_id=job.id,
        ranges=ranges,
        now=ctx.machine_clock.now(),
    )
    if ranges:
        _start(ctx, kind, job.id, len(ranges))
    else:
        counts = repo.add_counts(ctx.session, job.id, now=ctx.clock.now())
        _after_processing(ctx, job.id, counts)


def _after_processing(ctx: ServiceContext, job_id: int, counts: repo.Counts) -> None:
    if counts.total_processed_records < counts.successful_records:
        return
    clean = counts.failed_records == 0 and counts.failed_processed_records == 0
    status = BulkJobStatus.PROCESSED if clean else BulkJobStatus.PROCESSED_WITH_ERRORS
    now = ctx.clock.now()
    transition(ctx, job_id, [BulkJobStatus.PROCESSING], status, processed_at=now, modified_at=now)


def _failures(facts: list[records.InvoiceFacts]) -> dict[str, list[int]]:
    """Why each record that was not written off could not be (failure -> record ids)."""
    failed: dict[str, list[int]] = {}
    for fact in facts:
        reason = records.failure_of(fact)
        if reason is None or reason == records.NO_BALANCE:
            # It passed validation, and now the ledger found nothing to write off: it was
            # paid or written off since. (None cannot happen, the rules being the same
            # as the statement's, but the record must not stay awaiting processing.)
            reason = records.NO_BALANCE_ANY_MORE
        failed.setdefault(reason, []).append(fact.record_id)
    return failed


class ProcessChunk:
    def process(self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk) -> None:
        _let_writers_in(ctx)
        session = ctx.session
        repo.plan_chunk_as_lookups(session)
        job = repo.share_job(session, chunk.tenant_id, chunk.parent_id)
        if job is None or job.status != BulkJobStatus.PROCESSING:
            return  # cancelled meanwhile: the chunk was cancelled too and rolls back
        tenant_id, job_id = chunk.tenant_id, chunk.parent_id
        first, last = chunk.first_id, chunk.last_id
        # Lock the range's invoices, then write each one's balance off in one statement
        # that re-reads the balances under those locks.
        record_of = repo.passed_records(session, tenant_id, job_id, first, last)
        written = (
            ledger.write_off_full_balances(
                ctx,
                repo.writable_invoices(tenant_id, job_id, first, last),
                reference=job.reference,
                source=EntrySource.FUSEBILL,
            )
            if record_of
            else {}
        )
        if written and webhooks.subscribed(ctx, EventType.INVOICE_WRITTEN_OFF):
            # Per-invoice events, as for bill runs: only for a subscribing tenant, in one
            # statement with the chunk.
            events.emit_invoices_written_off(ctx, list(written.values()), bulk_job_id=job_id)
        processed = repo.set_processed(
            session,
            job_id,
            first,
            last,
            [(record_of[invoice_id], entry_id) for invoice_id, entry_id in written.items()],
        )
        # The chunk was planned as ``size`` records awaiting processing, and nothing else
        # moves them while it is ours: when all were written off, none is left to judge.
        left = (
            repo.unprocessed_facts(session, tenant_id, job_id, first, last)
            if processed < chunk.size
            else []
        )
        failed = _failures(left)
        for reason, record_ids in failed.items():
            repo.set_status(session, record_ids, RecordStatus.FAILED_PROCESSING, reason)
        counts = repo.add_counts(
            session,
            job_id,
            now=ctx.clock.now(),
            processed=processed,
            failed_processing=sum(len(ids) for ids in failed.values()),
        )
        _after_processing(ctx, job_id, counts)

    def give_up(
        self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk, error: str
    ) -> None:
        log.error(
            "processing chunk %s of bulk job %s gave up: %s", chunk.seq, chunk.parent_id, error
        )
        job = repo.lock_job(ctx.session, chunk.tenant_id, chunk.parent_id)
        if job is None or job.status != BulkJobStatus.PROCESSING:
            return
        count = repo.fail_range(
            ctx.session,
            job.id,
            chunk.first_id,
            chunk.last_id,
            RecordStatus.PASSED_VALIDATION,
            RecordStatus.FAILED_PROCESSING,
            NOT_PROCESSED,
        )
        counts = repo.add_counts(ctx.session, job.id, now=ctx.clock.now(), failed_processing=count)
        _after_processing(ctx, job.id, counts)


def cancel_chunks(ctx: ServiceContext, job_id: int) -> None:
    """Cancel the job's open chunks: a worker holding one fails to complete it and its
    whole transaction rolls back."""
    now = ctx.machine_clock.now()
    for kind in (VALIDATE, PROCESS, PAYMENT_VALIDATE, PAYMENT_PROCESS):
        chunks.cancel_open(ctx.session, kind=kind, parent_id=job_id, now=now)


chunk_handler(VALIDATE, ValidateChunk())
chunk_handler(PROCESS, ProcessChunk())
