"""The bill-run machinery that runs in workers: starting a run (selecting its accounts
into chunks), generating each chunk's invoices, finishing, posting, emailing,
cancelling, deleting, and starting scheduled occurrences when their time comes.

Every step is idempotent and guarded by the run's status, so a task delivered twice, a
worker killed mid-chunk, or two workers racing on one run never bill an account twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from billcycle import phases
from billcycle.access import labels
from billcycle.billruns import repository as repo
from billcycle.billruns import schedule as schedules
from billcycle.billruns.columns import from_row, to_columns
from billcycle.billruns.models import BillRun
from billcycle.billruns.pipeline import PIPELINE
from billcycle.billruns.selection import Selection, selection_of, with_organizations
from billcycle.billruns.spec import BillRunSpec, BillRunType
from billcycle.billruns.statuses import BillRunStatus
from billcycle.billruns.transitions import transition
from billcycle.context import ServiceContext
from billcycle.db.session import after_commit
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.invoicing.generator import GenerationOptions, generate_invoices
from billcycle.invoicing.prepared import write_prepared
from billcycle.invoicing.service import cancel_invoices, post_run_drafts
from billcycle.invoicing.statuses import InvoiceSource, InvoiceStatus
from billcycle.jobs import chunks
from billcycle.jobs.chunks import ChunkRange, ClaimedChunk
from billcycle.jobs.registry import chunk_handler, periodic, task
from billcycle.jobs.runner import JobRunner
from billcycle.subscriptions.lifecycle import renew_due_subscriptions
from billcycle.tenancy.numbers import next_number
from billcycle.usage.billing import free_usage
from billcycle.webhooks import service as webhooks

log = logging.getLogger(__name__)

GENERATE = "bill_run"
POST = "bill_run_post"
EMAIL = "bill_run_email"
EMAIL_RESEND = "bill_run_email_resend"


# -- starting --------------------------------------------------------------------------------


@task("bill_run.start")
def start(runner: JobRunner, *, tenant_id: int, run_id: int) -> None:
    """Pending -> Processing: pick the accounts and cut them into chunks."""
    phases.restart()
    with runner.context(tenant_id) as ctx:
        run = repo.get_run(ctx.session, tenant_id, run_id, lock=True)
        now = ctx.clock.now()
        if run is None or run.status != BillRunStatus.PENDING:
            return
        if run.scheduled_execution_time is not None and run.scheduled_execution_time > now:
            return  # not due yet
        run_date = ctx.clock.date_of(run.scheduled_execution_time or now)
        spec = from_row(run)
        if spec.schedule is not None:
            run.invoice_date, run.target_date = spec.run_dates(run_date)
            schedule_next(ctx, run)
        selection = _with_labels(ctx.session, tenant_id, selection_of(spec, run_date), spec)
        ranges = merged_ranges(
            repo.selection_ranges(
                ctx.session, tenant_id, selection, runner.runtime.settings.bill_run_chunk_size
            )
        )
        phases.lap("selection")
        PIPELINE.warm_up(ctx.session, len(ranges))
        run.status = BillRunStatus.PROCESSING
        run.started_at = now
        run.updated_at = now
        run.accounts_total = sum(r.size for r in ranges)
        run.chunks_total = len(ranges)
        run.chunks_done = 0
        ctx.session.flush()
        events.emit_status_change(
            ctx, EventType.BILL_RUN_STATUS_CHANGED, run, BillRunStatus.PENDING
        )
        if not runner.plan_and_drain(ctx, GENERATE, run.id, ranges):
            _finish_generation(runner, ctx, run)


# A chunk's own cost (claiming it, reading the run, its selection query, the run's
# counters, the commit) is some 10 ms whatever its size, about a third of a 1,000-account
# chunk's CPU (docs/benchmarks.md, issue 15): a big run takes bigger chunks, so that it
# has at most MAX_CHUNKS of them, but no more than MAX_CHUNK_FACTOR times the configured
# size (a worker holds one chunk's rows: memory stays flat). Small runs keep the
# configured size, and with it their progress reports and their share among workers.
MAX_CHUNKS = 32
MAX_CHUNK_FACTOR = 10


def merged_ranges(ranges: list[ChunkRange]) -> list[ChunkRange]:
    """``ranges`` (consecutive id ranges of the configured size), joined k at a time."""
    factor = min(MAX_CHUNK_FACTOR, -(-len(ranges) // MAX_CHUNKS))
    if factor <= 1:
        return ranges
    return [
        ChunkRange(group[0].first_id, group[-1].last_id, sum(r.size for r in group))
        for group in (ranges[i : i + factor] for i in range(0, len(ranges), factor))
    ]


def schedule_next(ctx: ServiceContext, run: BillRun) -> BillRun | None:
    """Create the series' next occurrence (Pending, new number), once."""
    spec = from_row(run)
    assert spec.schedule is not None
    assert run.scheduled_execution_time is not None
    when = schedules.next_execution_time(spec.schedule, run.scheduled_execution_time)
    series_id = run.series_id or run.id
    if when is None or repo.occurrence_exists(ctx.session, series_id, when):
        return None
    return create_occurrence(ctx, run, when)


def create_occurrence(ctx: ServiceContext, template: BillRun, when: datetime) -> BillRun:
    now = ctx.clock.now()
    columns = to_columns(from_row(template))
    occurrence = BillRun(
        **columns,
        tenant_id=template.tenant_id,
        bill_run_number=next_number(ctx.session, template.tenant_id, "bill_run"),
        status=BillRunStatus.PENDING,
        series_id=template.series_id or template.id,
        scheduled_execution_time=when,
        created_via_api=False,
        created_by_id=template.created_by_id,
        created_at=now,
        updated_at=now,
    )
    added = repo.add_run(ctx.session, occurrence)
    events.emit_status_change(ctx, EventType.BILL_RUN_STATUS_CHANGED, added, None)
    return added


# -- generating ------------------------------------------------------------------------------


class GenerateChunk:
    def process(self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk) -> None:
        phases.restart()
        run = repo.get_run(ctx.session, chunk.tenant_id, chunk.parent_id)
        if run is None or run.status != BillRunStatus.PROCESSING:
            return  # cancelled or deleted meanwhile: nothing to do for this chunk
        assert run.target_date is not None
        assert run.invoice_date is not None
        run_date = ctx.clock.date_of(
            run.scheduled_execution_time or run.started_at or ctx.clock.now()
        )
        spec = from_row(run)
        selection = _with_labels(ctx.session, chunk.tenant_id, selection_of(spec, run_date), spec)
        account_ids = repo.selected_accounts(
            ctx.session, chunk.tenant_id, selection, chunk.first_id, chunk.last_id
        )
        phases.lap("selection")
        options = GenerationOptions(
            target_date=run.target_date,
            invoice_date=run.invoice_date,
            bill_run_id=run.id,
            source=InvoiceSource.BILL_RUN,
            exclude_charge_types=frozenset(run.charge_type_to_exclude or ()),
            subscription_ids=selection.subscription_ids,
            catch_up=run.bill_run_type == BillRunType.CATCH_UP,
        )
        # SQLite: this chunk as the helper process prepared it while the previous one
        # was written, and the next one asked for (billruns.pipeline).
        prepared = (
            PIPELINE.exchange(ctx, GENERATE, chunk, run.chunks_total, selection, options)
            if run.include_subscriptions
            else None
        )
        phases.lap("pipeline")
        if run.auto_renewal and account_ids:
            renew_due_subscriptions(ctx, account_ids, run.target_date)
            phases.lap("renewal")
        result = None
        if prepared is not None and account_ids:
            result = write_prepared(ctx, prepared, account_ids, options)
            if result is None:
                PIPELINE.chunks_stale += 1
            else:
                PIPELINE.chunks_prepared += 1
        if result is None:
            result = generate_invoices(
                ctx, account_ids if run.include_subscriptions else [], options
            )
        now = ctx.clock.now()
        repo.add_failures(ctx.session, chunk.tenant_id, run.id, result.failures, now)
        repo.add_totals(ctx.session, run.id, result.amount_minor_by_currency)
        done, total = repo.record_chunk(
            ctx.session,
            run.id,
            accounts=len(account_ids),
            failed=len(result.failures),
            invoices=len(result.invoice_ids),
            items=result.items,
            now=now,
        )
        if done >= total:
            ctx.session.refresh(run)
            _finish_generation(runner, ctx, run)
        phases.lap("bookkeeping")
        after_commit(ctx.session, _chunk_committed)

    def give_up(
        self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk, error: str
    ) -> None:
        _abandon(
            ctx,
            chunk,
            source=BillRunStatus.PROCESSING,
            target=BillRunStatus.ERROR,
            message=f"Chunk {chunk.seq} failed: {error}",
        )


def _chunk_committed() -> None:
    """The runner's share of a chunk (its completion, the next claim) and the commit."""
    phases.lap("claim and commit")
    phases.flush()


def _abandon(
    ctx: ServiceContext,
    chunk: ClaimedChunk,
    *,
    source: BillRunStatus,
    target: BillRunStatus,
    message: str,
) -> None:
    """A chunk failed every attempt: move the run from ``source`` to ``target`` with the
    error, and cancel the step's remaining chunks."""
    run = repo.get_run(ctx.session, chunk.tenant_id, chunk.parent_id)
    if run is None:
        return
    now = ctx.clock.now()
    transition(ctx, run, [source], target, error_message=message[:4000], updated_at=now)
    chunks.cancel_open(ctx.session, kind=chunk.kind, parent_id=run.id, now=ctx.machine_clock.now())


def _finish_generation(runner: JobRunner, ctx: ServiceContext, run: BillRun) -> None:
    now = ctx.clock.now()
    if not transition(
        ctx,
        run,
        [BillRunStatus.PROCESSING],
        BillRunStatus.COMPLETED,
        completed_at=now,
        updated_at=now,
    ):
        return
    if run.auto_post and run.bill_run_type != BillRunType.CATCH_UP:
        start_posting(runner, ctx, run)


# -- posting ---------------------------------------------------------------------------------

# Posting a chunk is one UPDATE of its invoices (about 10 microseconds an invoice), where
# generating one costs about a millisecond an account; a chunk's own cost (claim, commit,
# the run's counters) is some 10 ms either way. A posting chunk therefore takes this
# many times the accounts of a generation chunk (20,000 invoices by default): a million
# invoices post in 50 chunks of a fraction of a second each.
POST_CHUNK_FACTOR = 20


def start_posting(runner: JobRunner, ctx: ServiceContext, run: BillRun) -> None:
    """Completed -> PostInProgress (auto_post), then plan the posting chunks."""
    if transition(
        ctx,
        run,
        [BillRunStatus.COMPLETED],
        BillRunStatus.POST_IN_PROGRESS,
        updated_at=ctx.clock.now(),
    ):
        plan_posting(runner, ctx, run)


def plan_posting(runner: JobRunner, ctx: ServiceContext, run: BillRun) -> None:
    """Cut a PostInProgress run's drafts into chunks to post (once: a re-delivered task
    finds the chunks already planned)."""
    if run.status != BillRunStatus.POST_IN_PROGRESS or chunks.exists(
        ctx.session, kind=POST, parent_id=run.id
    ):
        return
    size = runner.runtime.settings.bill_run_chunk_size * POST_CHUNK_FACTOR
    ranges = repo.invoice_ranges(ctx.session, run.tenant_id, run.id, [InvoiceStatus.DRAFT], size)
    run.chunks_total, run.chunks_done = len(ranges), 0
    ctx.session.flush()
    if not runner.plan_and_drain(ctx, POST, run.id, ranges):
        _finish_post(runner, ctx, run)


@task("bill_run.post")
def post(runner: JobRunner, *, tenant_id: int, run_id: int) -> None:
    with runner.context(tenant_id) as ctx:
        run = repo.get_run(ctx.session, tenant_id, run_id, lock=True)
        if run is not None:
            plan_posting(runner, ctx, run)


class PostChunk:
    def process(self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk) -> None:
        run = repo.get_run(ctx.session, chunk.tenant_id, chunk.parent_id)
        if run is None or run.status != BillRunStatus.POST_IN_PROGRESS:
            return
        since = ctx.clock.now()
        post_run_drafts(ctx, run.id, chunk.first_id, chunk.last_id, run.invoice_date)
        if webhooks.subscribed(ctx, EventType.INVOICE_POSTED):
            # Per-invoice events only for a tenant that subscribes to them, set-based.
            events.emit_run_invoices_posted(ctx, run.id, chunk.first_id, chunk.last_id, since)
        done, total = repo.record_chunk(
            ctx.session, run.id, accounts=0, failed=0, invoices=0, items=0, now=ctx.clock.now()
        )
        if done >= total:
            ctx.session.refresh(run)
            _finish_post(runner, ctx, run)

    def give_up(
        self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk, error: str
    ) -> None:
        # Zuora: if any invoice fails to post, the run goes back to Completed.
        _abandon(
            ctx,
            chunk,
            source=BillRunStatus.POST_IN_PROGRESS,
            target=BillRunStatus.COMPLETED,
            message=f"Posting failed: {error}",
        )


def _finish_post(runner: JobRunner, ctx: ServiceContext, run: BillRun) -> None:
    now = ctx.clock.now()
    if not transition(
        ctx,
        run,
        [BillRunStatus.POST_IN_PROGRESS],
        BillRunStatus.POSTED,
        posted_at=now,
        updated_at=now,
    ):
        return
    if run.auto_email:
        plan_emails(runner, ctx, run, resend=False)


# -- emailing --------------------------------------------------------------------------------


@task("bill_run.email")
def email(runner: JobRunner, *, tenant_id: int, run_id: int, resend: bool) -> None:
    with runner.context(tenant_id) as ctx:
        run = repo.get_run(ctx.session, tenant_id, run_id, lock=True)
        if run is not None:
            plan_emails(runner, ctx, run, resend=resend)


def plan_emails(runner: JobRunner, ctx: ServiceContext, run: BillRun, *, resend: bool) -> int:
    """Cut the run's posted invoices into chunks to email; returns how many invoices."""
    kind = EMAIL_RESEND if resend else EMAIL
    ranges = repo.invoice_ranges(ctx.session, run.tenant_id, run.id, [InvoiceStatus.POSTED], 100)
    # A new request replaces an unfinished one; finished chunks are history.
    chunks.delete_for_parent(ctx.session, kind=kind, parent_id=run.id)
    runner.plan_and_drain(ctx, kind, run.id, ranges)
    return sum(r.size for r in ranges)


class EmailChunk:
    def __init__(self, *, resend: bool) -> None:
        self.resend = resend

    def process(self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk) -> None:
        from billcycle.notifications.mailer import mailer_from_settings
        from billcycle.notifications.service import email_invoices

        run = repo.get_run(ctx.session, chunk.tenant_id, chunk.parent_id)
        if run is None:
            return
        ids = repo.invoice_ids(
            ctx.session,
            chunk.tenant_id,
            run.id,
            [InvoiceStatus.POSTED],
            chunk.first_id,
            chunk.last_id,
        )
        mailer = mailer_from_settings(runner.runtime.settings)
        email_invoices(
            ctx,
            ids,
            mailer,
            resend=self.resend,
            skip_zero_amount=run.no_email_for_zero_amount_invoice,
            bill_run_id=run.id,
        )

    def give_up(
        self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk, error: str
    ) -> None:
        log.error("emailing chunk %s of bill run %s gave up: %s", chunk.seq, chunk.parent_id, error)


# -- cancelling and deleting ------------------------------------------------------------------


@task("bill_run.cancel")
def cancel(runner: JobRunner, *, tenant_id: int, run_id: int) -> None:
    """CancelInProgress -> Canceled: cancel the run's drafts (their periods become
    billable again)."""
    with runner.context(tenant_id) as ctx:
        run = repo.get_run(ctx.session, tenant_id, run_id, lock=True)
        if run is None or run.status != BillRunStatus.CANCEL_IN_PROGRESS:
            return
        chunks.cancel_open(
            ctx.session, kind=GENERATE, parent_id=run.id, now=ctx.machine_clock.now()
        )
        drafts = repo.invoice_ids(ctx.session, tenant_id, run.id, [InvoiceStatus.DRAFT])
        cancelled: list[int] = []
        for start in range(0, len(drafts), 10_000):
            cancelled += cancel_invoices(ctx, drafts[start : start + 10_000])
        if cancelled and webhooks.subscribed(ctx, EventType.INVOICE_CANCELLED):
            # Per-invoice events only for a subscribing tenant, set-based, as for posting.
            events.emit_invoices_cancelled(ctx, cancelled)
        now = ctx.clock.now()
        transition(
            ctx,
            run,
            [BillRunStatus.CANCEL_IN_PROGRESS],
            BillRunStatus.CANCELED,
            updated_at=now,
        )


@task("bill_run.delete")
def remove(runner: JobRunner, *, tenant_id: int, run_id: int) -> None:
    with runner.context(tenant_id) as ctx:
        run = repo.get_run(ctx.session, tenant_id, run_id, lock=True)
        if run is None or run.status != BillRunStatus.REMOVE_IN_PROGRESS:
            return
        # Usage billed by the run's invoices (an Error run's drafts) is billable again.
        free_usage(
            ctx.session,
            tenant_id,
            repo.invoice_ids(ctx.session, tenant_id, run.id, list(InvoiceStatus)),
        )
        repo.delete_run(ctx.session, tenant_id, run.id)


# -- the scheduler ---------------------------------------------------------------------------


@periodic
def start_due_runs(runner: JobRunner) -> None:
    """Start scheduled occurrences whose time has come (each at most once: the start task
    is guarded by the Pending status), and re-dispatch work whose task was lost."""
    settings = runner.runtime.settings
    now = runner.runtime.clock.now()
    with runner.runtime.service_context(0) as ctx:
        due = repo.due_scheduled_runs(ctx.session, now)
        stuck = repo.stuck_in_progress(
            ctx.session, [BillRunStatus.CANCEL_IN_PROGRESS, BillRunStatus.REMOVE_IN_PROGRESS]
        )
        lost = repo.pending_unscheduled_runs(ctx.session)
    stale = now - timedelta(seconds=settings.worker_lease_seconds)
    for tenant_id, run_id in due:
        runner.dispatch("bill_run.start", tenant_id=tenant_id, run_id=run_id)
    for tenant_id, run_id, status in stuck:
        name = (
            "bill_run.cancel" if status == BillRunStatus.CANCEL_IN_PROGRESS else "bill_run.delete"
        )
        runner.dispatch(name, tenant_id=tenant_id, run_id=run_id)
    for tenant_id, run_id in lost:
        with runner.runtime.service_context(tenant_id) as ctx:
            run = repo.get_run(ctx.session, tenant_id, run_id)
            if run is not None and run.created_at < stale:
                runner.dispatch("bill_run.start", tenant_id=tenant_id, run_id=run_id)


chunk_handler(GENERATE, GenerateChunk())
chunk_handler(POST, PostChunk())
chunk_handler(EMAIL, EmailChunk(resend=False))
chunk_handler(EMAIL_RESEND, EmailChunk(resend=True))


def _with_labels(
    session: Session, tenant_id: int, selection: Selection, spec: BillRunSpec
) -> Selection:
    """Narrow the selection to the organizations ``organizationLabels`` names."""
    orgs = labels.resolve(
        session,
        tenant_id,
        [
            (label.organization_id, label.organization_name, bool(label.excluded))
            for label in spec.organization_labels
        ],
    )
    if orgs is None:
        return selection
    return with_organizations(selection, orgs.include, orgs.exclude)
