"""The payment-run machinery that runs in workers: starting a run (cutting its accounts
into chunks), collecting each chunk (its receivables selected first), finishing,
and starting scheduled runs when their hour comes.

Every step is guarded by the run's status and each record's outcome is written once,
so a task delivered twice, a worker killed mid-chunk, or two workers on one run never
charge a receivable twice (``collect`` says how a chunk survives a crash).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from billcycle.context import ServiceContext
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.jobs import chunks
from billcycle.jobs.chunks import ClaimedChunk
from billcycle.jobs.registry import chunk_handler, periodic, task
from billcycle.jobs.runner import JobRunner, worker_name
from billcycle.paymentruns import collect, selection
from billcycle.paymentruns import repository as repo
from billcycle.paymentruns.models import PaymentRun
from billcycle.paymentruns.service import target_date_of
from billcycle.paymentruns.statuses import PaymentRunStatus
from billcycle.paymentruns.transitions import transition
from billcycle.runtime import Runtime

log = logging.getLogger(__name__)

COLLECT = "payment_run"


@task("payment_run.start")
def start(runner: JobRunner, *, tenant_id: int, run_id: int) -> None:
    """Pending -> Processing: cut the run's accounts into chunks (each chunk selects
    its receivables as its first step, unless the client named them: ``selection``)."""
    with runner.context(tenant_id) as ctx:
        run = repo.get_run(ctx.session, tenant_id, run_id, lock=True)
        now = ctx.clock.now()
        if run is None or run.status != PaymentRunStatus.PENDING:
            return
        if run.run_date is not None and run.run_date > now:
            return  # not due yet
        if run.target_date is None:
            run.target_date = target_date_of(run, ctx)
        run.executed_on = now
        # No record written here (``selection``): each chunk selects its own.
        ranges = selection.plan(ctx, run, chunk_size(runner.runtime))
        run.status = PaymentRunStatus.PROCESSING
        run.updated_at = now
        # Given records counted now; selected ones by each chunk as it writes them.
        run.receivables_total = sum(r.size for r in ranges) if run.explicit_data else 0
        run.chunks_total = len(ranges)
        run.chunks_done = 0
        ctx.session.flush()
        events.emit_status_change(
            ctx, EventType.PAYMENT_RUN_STATUS_CHANGED, run, PaymentRunStatus.PENDING
        )
        if not runner.plan_and_drain(ctx, COLLECT, run.id, ranges):
            _finish(ctx, run)


def chunk_size(runtime: Runtime) -> int:
    """Accounts a chunk of a run takes on this database (``config``: SQLite's one
    writer collects several slices a chunk, pipelined; PostgreSQL's workers share
    smaller chunks)."""
    settings = runtime.settings
    if runtime.engine.dialect.name == "sqlite":
        return settings.payment_run_chunk_size_sqlite
    return settings.payment_run_chunk_size


class CollectChunk:
    """The three phases run in units of work of their own (``collect``), each renewing
    the chunk's lease; the drain's unit of work then only marks the chunk done. A chunk
    re-run finds its records' outcomes written and charges only records without a
    payment."""

    def process(self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk) -> None:
        runtime = runner.runtime
        worker = worker_name()  # the drain's name for this thread: the chunk's owner

        def keep_lease(phase: ServiceContext) -> bool:
            return chunks.extend_lease(
                phase.session,
                chunk.id,
                worker=worker,
                now=runtime.machine_clock.now(),
                lease=runner.lease,
            )

        collect.collect_pipelined(
            runtime,
            chunk.tenant_id,
            chunk.parent_id,
            chunk.first_id,
            chunk.last_id,
            keep_lease,
            in_flight=runtime.settings.payment_run_in_flight,
            slice_records=runtime.settings.payment_run_slice_records,
        )
        # Counts are already on the run (each phase adds its own as it commits).
        done, total = repo.record_chunk(
            ctx.session, chunk.parent_id, processed=0, failed=0, payments=0, now=ctx.clock.now()
        )
        if done >= total:
            run = repo.get_run(ctx.session, chunk.tenant_id, chunk.parent_id)
            if run is not None:
                ctx.session.refresh(run)
                _finish(ctx, run)

    def give_up(
        self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk, error: str
    ) -> None:
        run = repo.get_run(ctx.session, chunk.tenant_id, chunk.parent_id)
        if run is None:
            return
        transition(
            ctx,
            run,
            [PaymentRunStatus.PROCESSING],
            PaymentRunStatus.ERROR,
            error_message=f"Chunk {chunk.seq} failed: {error}"[:4000],
            completed_on=ctx.clock.now(),
            updated_at=ctx.clock.now(),
        )
        chunks.cancel_open(ctx.session, kind=COLLECT, parent_id=run.id, now=ctx.machine_clock.now())


def _finish(ctx: ServiceContext, run: PaymentRun) -> None:
    now = ctx.clock.now()
    transition(
        ctx,
        run,
        [PaymentRunStatus.PROCESSING],
        PaymentRunStatus.COMPLETED,
        completed_on=now,
        updated_at=now,
    )


@periodic
def start_due_runs(runner: JobRunner) -> None:
    """Start scheduled runs whose hour has come (each once: the start task is guarded
    by the Pending status), and run-now runs whose start task was lost."""
    settings = runner.runtime.settings
    now = runner.runtime.clock.now()
    stale = now - timedelta(seconds=settings.worker_lease_seconds)
    with runner.runtime.service_context(0) as ctx:
        due = repo.due_scheduled_runs(ctx.session, now)
        lost = repo.pending_unscheduled_runs(ctx.session, stale)
    for tenant_id, run_id in [*due, *lost]:
        runner.dispatch("payment_run.start", tenant_id=tenant_id, run_id=run_id)


chunk_handler(COLLECT, CollectChunk())
