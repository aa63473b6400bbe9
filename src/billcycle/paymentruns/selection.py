"""Which receivables a run collects, and when they are written: a run that selects its
records (no ``data[]``) is cut into chunks from its accounts at its start, and each
chunk writes its own records as its first step, in its own unit of work.

The run's start writes no record: one ``INSERT ... SELECT`` of every record ran on one
database connection before any chunk could start (PostgreSQL 100,000 records: ~2-5 s
of one backend while the other worker waited; 1,000,000: ~10-20 s). Now the start
counts the accounts the run may collect (:func:`plan`, no invoice balance read), and
each chunk selects its range's records with the same statement (:func:`take_records`),
so PostgreSQL's workers select in parallel and SQLite's writer chunk by chunk.

A chunk writes its records once: in the unit of work that renews its lease (on
PostgreSQL a row lock on the chunk until it commits: a worker taking the chunk over
skips it or waits, then finds the records; on SQLite writers are serial) and only if
the run has no record of the chunk's accounts yet. A
chunk re-run after a crash finds its records committed and selects nothing again; one
that crashed before committing them selects them again. ``receivables_total`` grows by
each chunk's records as it writes them: exact once every chunk has started.

An invoice posted after the run started is not the run's (``Selection.posted_by``),
as when every record was selected at the start. Otherwise a chunk selects what is true
when it starts: an invoice paid, or whose account left autopay or lost its default
method, since the run started is no record (before: a record, decided as its chunk
began); one whose Processing payment failed meanwhile is collected (before: not
selected). For data that does not change meanwhile, the same invoices as before
(docs/zuora-api.md, "Payment runs").
"""

from __future__ import annotations

from billcycle.access import labels
from billcycle.context import ServiceContext
from billcycle.gateways import repository as gateways_repo
from billcycle.jobs.chunks import ChunkRange
from billcycle.paymentruns import repository as repo
from billcycle.paymentruns.models import PaymentRun
from billcycle.paymentruns.statuses import PaymentRunStatus


def selection_of(ctx: ServiceContext, run: PaymentRun) -> repo.Selection:
    """The run's request as the selection's conditions (its target date set)."""
    assert run.target_date is not None
    default = gateways_repo.get_default(ctx.session, ctx.tenant_id)
    orgs = labels.resolve(
        ctx.session, ctx.tenant_id, labels.labels_from_dicts(run.organization_labels or ())
    )
    return repo.Selection(
        target_date=run.target_date,
        account_id=run.account_id,
        batch=run.batch,
        bill_cycle_day=run.bill_cycle_day,
        billing_run_id=run.billing_run_id,
        currency=run.currency,
        payment_gateway_id=run.payment_gateway_id,
        default_gateway_id=default.id if default is not None else None,
        include_closed_methods=run.process_payment_with_closed_pm,
        organization_ids=orgs.include if orgs else None,
        excluded_organization_ids=orgs.exclude if orgs else (),
        posted_by=run.executed_on,
    )


def plan(ctx: ServiceContext, run: PaymentRun, accounts_per_chunk: int) -> list[ChunkRange]:
    """The run's chunks: of its given records (``data[]``), or of the accounts it may
    collect (no record written: each chunk selects its own)."""
    if run.explicit_data:
        return repo.account_ranges(ctx.session, ctx.tenant_id, run.id, accounts_per_chunk)
    return repo.selection_account_ranges(
        ctx.session, ctx.tenant_id, selection_of(ctx, run), accounts_per_chunk
    )


def to_take(ctx: ServiceContext, run: PaymentRun, first_account: int, last_account: int) -> bool:
    """Whether a chunk of the accounts ``first_account``..``last_account`` has records to
    take: the run selects its records, is Processing, and has none of those accounts
    yet (a chunk re-run after they were written has none to take)."""
    if run.explicit_data or run.status != PaymentRunStatus.PROCESSING:
        return False
    return not repo.has_records(ctx.session, ctx.tenant_id, run.id, first_account, last_account)


def take_records(
    ctx: ServiceContext, run: PaymentRun, first_account: int, last_account: int
) -> int:
    """A chunk's first step: write the records of the accounts ``first_account``..
    ``last_account`` the run collects, if it still has them to take (:func:`to_take`,
    asked again here: the caller renewed the chunk's lease in this unit of work first,
    which on PostgreSQL waits for a worker that took the chunk over and wrote them).
    Returns how many: the caller adds them to the run's ``receivables_total``
    (``repository.add_receivables``) in the same unit of work, as its last statement
    (the run's row stays locked until it commits)."""
    if not to_take(ctx, run, first_account, last_account):
        return 0
    return repo.select_receivables(
        ctx.session,
        ctx.tenant_id,
        run.id,
        selection_of(ctx, run),
        accounts=(first_account, last_account),
    )
