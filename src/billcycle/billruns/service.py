"""Bill runs as the API sees them: create, read, update, and the guarded transitions
that hand the heavy work to workers (post, cancel, delete, email).

Each transition is decided under the run's row lock and applied with a conditional
UPDATE, so two concurrent calls cannot both win; the work itself is enqueued only after
the transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import Row

from billcycle.access import labels as org_labels
from billcycle.accounts.repository import get_account
from billcycle.billruns import repository as repo
from billcycle.billruns import schedule as schedules
from billcycle.billruns import tasks
from billcycle.billruns.columns import from_row, to_columns
from billcycle.billruns.models import BillRun
from billcycle.billruns.rules import BillRunSpecError, SpecRule, settle
from billcycle.billruns.spec import BillRunPatch, BillRunSpec, OrganizationLabel, SpecChange
from billcycle.billruns.statuses import BillRunStatus
from billcycle.billruns.transitions import transition
from billcycle.context import ServiceContext
from billcycle.db.direct import DirectReads, LoopReads
from billcycle.errors import NotFound, RuleViolation
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.subscriptions.models import Subscription
from billcycle.tenancy import service as tenancy
from billcycle.tenancy.numbers import next_number

RESOURCE = "bill_run"
MAX_PENDING_API_RUNS = 500


def _rule(message: str) -> RuleViolation:
    return RuleViolation(message, resource=RESOURCE)


def _not_found(key: int | str) -> NotFound:
    if isinstance(key, int):
        return NotFound("Bill run {bill_run} not found.", resource=RESOURCE, ids={"bill_run": key})
    return NotFound(f"Bill run {key} not found.", resource=RESOURCE)


def find_bill_run(ctx: ServiceContext, key: int | str, *, lock: bool = False) -> BillRun:
    """By id (an int) or number (BR-00000001); another tenant's run is not found."""
    run = (
        repo.get_run(ctx.session, ctx.tenant_id, key, lock=lock)
        if isinstance(key, int)
        else repo.find_run_by_number(ctx.session, ctx.tenant_id, key, lock=lock)
    )
    if run is None:
        raise _not_found(key)
    return run


def _check_filters(ctx: ServiceContext, spec: BillRunSpec) -> None:
    for item in spec.filters:
        ids = {"account": item.account_id}
        if get_account(ctx.session, ctx.tenant_id, item.account_id) is None:
            raise BillRunSpecError(
                SpecRule.UNKNOWN_ACCOUNT, "Filter: account {account} does not exist.", ids=ids
            )
        if item.subscription_id is not None:
            sub = ctx.session.get(Subscription, item.subscription_id)
            if sub is None or sub.tenant_id != ctx.tenant_id or sub.account_id != item.account_id:
                raise BillRunSpecError(
                    SpecRule.FOREIGN_SUBSCRIPTION,
                    "Filter: subscription {subscription} does not belong to account {account}.",
                    ids={**ids, "subscription": item.subscription_id},
                )


def _no_occurrence_left(*, updating: bool) -> BillRunSpecError:
    return BillRunSpecError(
        SpecRule.NO_OCCURRENCE_LEFT,
        "The schedule has no occurrence left: check its start, end and run time.",
        updating=updating,
    )


def _within_orgs(ctx: ServiceContext, spec: BillRunSpec) -> BillRunSpec:
    """Multi-org: a limited call's run selects only its organizations' accounts."""
    kept = org_labels.within_orgs(
        ctx.session,
        ctx.tenant_id,
        ctx.org_ids,
        [
            (label.organization_id, label.organization_name, bool(label.excluded))
            for label in spec.organization_labels
        ],
    )
    if kept is None:
        return spec
    added = tuple(
        OrganizationLabel(organization_id=org_id, organization_name=name, excluded=excluded)
        for org_id, name, excluded in kept[len(spec.organization_labels) :]
    )
    return replace(spec, organization_labels=spec.organization_labels + added)


def create_bill_run(
    ctx: ServiceContext, spec: BillRunSpec, *, created_by: str | None = None
) -> BillRun:
    """A new Pending run: ad hoc ones start at once (after commit), scheduled ones wait
    for their first occurrence."""
    spec = settle(SpecChange(spec), today=ctx.clock.today())
    _check_filters(ctx, spec)
    spec = _within_orgs(ctx, spec)
    if repo.count_pending_api_runs(ctx.session, ctx.tenant_id) >= MAX_PENDING_API_RUNS:
        raise _rule(
            f"There are already {MAX_PENDING_API_RUNS} Pending bill runs created through the "
            "API; wait for some to run or cancel them."
        )
    now = ctx.clock.now()
    run = BillRun(
        **to_columns(spec),
        tenant_id=ctx.tenant_id,
        bill_run_number=next_number(ctx.session, ctx.tenant_id, "bill_run"),
        status=BillRunStatus.PENDING,
        created_via_api=True,
        created_by_id=created_by,
        updated_by_id=created_by,
        created_at=now,
        updated_at=now,
    )
    if spec.schedule is not None:
        when = schedules.first_execution_time(spec.schedule, now)
        if when is None:
            raise _no_occurrence_left(updating=False)
        run.scheduled_execution_time = when
    repo.add_run(ctx.session, run)
    events.emit_status_change(ctx, EventType.BILL_RUN_STATUS_CHANGED, run, None)
    if spec.schedule is not None:
        run.series_id = run.id
        ctx.session.flush()
    else:
        ctx.enqueue("bill_run.start", tenant_id=ctx.tenant_id, run_id=run.id)
    return run


def update_bill_run(
    ctx: ServiceContext, run: BillRun, patch: BillRunPatch, *, updated_by: str | None = None
) -> BillRun:
    """Apply ``patch`` to a Pending run's spec, decided under the run's row lock."""
    repo.lock_run(ctx.session, run)
    if run.status != BillRunStatus.PENDING:
        raise _rule(
            f"Bill run {run.bill_run_number} is {run.status}; only a Pending bill run "
            "can be updated."
        )
    spec = settle(patch(from_row(run)), today=ctx.clock.today())
    _check_filters(ctx, spec)
    for column, value in to_columns(spec).items():
        setattr(run, column, value)
    if spec.schedule is not None:
        when = schedules.first_execution_time(spec.schedule, ctx.clock.now())
        if when is None:
            raise _no_occurrence_left(updating=True)
        run.scheduled_execution_time = when
    run.updated_by_id = updated_by
    run.updated_at = ctx.clock.now()
    ctx.session.flush()
    return run


def list_bill_runs(
    ctx: ServiceContext, status: str | None, offset: int, limit: int
) -> tuple[list[BillRun], bool]:
    return repo.list_runs(ctx.session, ctx.tenant_id, status, offset, limit)


def post_bill_run(ctx: ServiceContext, run: BillRun, invoice_date: date | None) -> BillRun:
    """Completed -> PostInProgress; workers post the drafts, then Posted."""
    repo.lock_run(ctx.session, run)
    if run.status != BillRunStatus.COMPLETED:
        raise _rule(
            f"Bill run {run.bill_run_number} is {run.status}; only a Completed bill run "
            "can be posted."
        )
    values: dict[str, Any] = {"updated_at": ctx.clock.now()}
    if invoice_date is not None:
        values["invoice_date"] = invoice_date
    if not transition(
        ctx, run, [BillRunStatus.COMPLETED], BillRunStatus.POST_IN_PROGRESS, **values
    ):
        raise _rule(f"Bill run {run.bill_run_number} changed status meanwhile; try again.")
    ctx.enqueue("bill_run.post", tenant_id=ctx.tenant_id, run_id=run.id)
    return run


def cancel_bill_run(
    ctx: ServiceContext, run: BillRun, *, cancel_once: bool = True
) -> tuple[BillRun, BillRun | None]:
    """Pending or Completed (with nothing posted) -> CancelInProgress; workers cancel its
    drafts, then Canceled. For a scheduled occurrence, ``cancel_once`` keeps the series
    going (the next occurrence is created now and returned); otherwise every future
    occurrence is cancelled too."""
    repo.lock_run(ctx.session, run)
    if run.status not in (BillRunStatus.PENDING, BillRunStatus.COMPLETED):
        raise _rule(
            f"Bill run {run.bill_run_number} is {run.status}; only a Pending or "
            "Completed bill run can be canceled."
        )
    if run.status == BillRunStatus.COMPLETED and repo.has_posted_invoices(
        ctx.session, ctx.tenant_id, run.id
    ):
        raise _rule(f"Bill run {run.bill_run_number} has posted invoices and cannot be canceled.")
    now = ctx.clock.now()
    previous = run.status
    if not transition(ctx, run, [previous], BillRunStatus.CANCEL_IN_PROGRESS, updated_at=now):
        raise _rule(f"Bill run {run.bill_run_number} changed status meanwhile; try again.")
    next_run: BillRun | None = None
    if run.schedule is not None and run.series_id is not None:
        if cancel_once:
            if previous == BillRunStatus.PENDING:
                next_run = tasks.schedule_next(ctx, run)
            else:
                next_run = _pending_occurrence(ctx, run.series_id)
        else:
            for other in repo.series_pending(ctx.session, ctx.tenant_id, run.series_id):
                transition(
                    ctx,
                    other,
                    [BillRunStatus.PENDING],
                    BillRunStatus.CANCELED,
                    updated_at=now,
                )
    ctx.enqueue("bill_run.cancel", tenant_id=ctx.tenant_id, run_id=run.id)
    return run, next_run


def _pending_occurrence(ctx: ServiceContext, series_id: int) -> BillRun | None:
    pending = repo.series_pending(ctx.session, ctx.tenant_id, series_id)
    return min(pending, key=lambda r: r.id) if pending else None


def delete_bill_run(ctx: ServiceContext, run: BillRun) -> BillRun:
    """Canceled or Error -> RemoveInProgress; a worker removes the run and its invoices."""
    repo.lock_run(ctx.session, run)
    if run.status not in (BillRunStatus.CANCELED, BillRunStatus.ERROR):
        raise _rule(
            f"Bill run {run.bill_run_number} is {run.status}; only a Canceled or "
            "Error bill run can be deleted."
        )
    if not transition(
        ctx, run, [run.status], BillRunStatus.REMOVE_IN_PROGRESS, updated_at=ctx.clock.now()
    ):
        raise _rule(f"Bill run {run.bill_run_number} changed status meanwhile; try again.")
    ctx.enqueue("bill_run.delete", tenant_id=ctx.tenant_id, run_id=run.id)
    return run


def email_bill_run(ctx: ServiceContext, run: BillRun, *, resend: bool) -> None:
    """Email the run's posted invoices (only posted documents are emailed)."""
    if run.status not in (
        BillRunStatus.POSTED,
        BillRunStatus.COMPLETED,
        BillRunStatus.POST_IN_PROGRESS,
    ):
        raise _rule(
            f"Bill run {run.bill_run_number} is {run.status}; it has no posted invoices to email."
        )
    ctx.enqueue("bill_run.email", tenant_id=ctx.tenant_id, run_id=run.id, resend=resend)


# Failures shown with a run (the first ones; the rest are in the failures table).
FAILURES_SHOWN = 20


def progress(ctx: ServiceContext, run: BillRun) -> dict[str, Any]:
    """The extra fields beside Zuora's: counts, totals per currency, first failures."""
    totals, failures = repo.progress(ctx.session, run.id, FAILURES_SHOWN)
    return {"totals": totals, "failures": failures}


@dataclass(frozen=True, slots=True)
class BillRunView:
    """What GET /bill-runs/{key} shows: the run's columns (a row named like BillRun's
    attributes, not an ORM object: nothing is changed) and its progress."""

    run: Row[Any] | Any  # a Row, or a row of db.direct: the same names
    totals: dict[str, int]
    failures: list[tuple[int, str]]


def view_bill_run(
    ctx: ServiceContext, key: int | str, client: tuple[int, str, int] | None = None
) -> BillRunView:
    """By id (an int: one query) or number; another tenant's run is not found.

    ``client``: the caller's access token as (its client's tenant, client id,
    generation), checked before anything is shown (a deleted or rotated client's token is
    refused); by id, in the same statement as the run."""
    by_id = isinstance(key, int)
    found = repo.run_view(
        ctx.session,
        ctx.tenant_id,
        run_id=key if isinstance(key, int) else None,
        number=str(key),
        failure_limit=FAILURES_SHOWN,
        client=(client[1], client[0]) if client is not None and by_id else None,
    )
    if client is not None:
        if found is not None and by_id:
            tenancy.check_generation(found[0].client_generation, client[2])
        else:
            tenancy.check_token_client(ctx.session, *client)
    if found is None:
        raise _not_found(key)
    return BillRunView(*found)


def bill_run_row(
    reads: DirectReads, tenant_id: int, run_id: int, client: tuple[int, str, int]
) -> tuple[Any, ...] | None:
    """:func:`view_bill_run` by id for the polled GET, on a direct-read connection
    (``db.direct``): the run's row as the driver returned it, after the token check in
    the same statement (a stale token is refused before anything is shown); None when
    there is no such run here, which the caller answers through :func:`view_bill_run`
    (the token check on its own first, then not found). Equal rows are equal views
    (:func:`bill_run_row_view`), so a caller may keep what it built from one."""
    return checked_bill_run_row(
        reads, unchecked_bill_run_row(reads, (tenant_id, run_id, client)), client
    )


# A GET's key for the reads below: (tenant, run, the token's client as Units.client).
BillRunKey = tuple[int, int, tuple[int, str, int]]


def unchecked_bill_run_row(reads: DirectReads, key: BillRunKey) -> tuple[Any, ...] | None:
    """:func:`bill_run_row`'s read without its token check: the caller must make it
    (:func:`checked_bill_run_row`) before it shows anything."""
    tenant_id, run_id, client = key
    return repo.run_view_direct(reads, tenant_id, run_id, FAILURES_SHOWN, (client[1], client[0]))


async def unchecked_bill_run_rows(
    reads: LoopReads, keys: list[BillRunKey]
) -> list[tuple[Any, ...] | None]:
    """:func:`unchecked_bill_run_row` for many GETs (any tenants, any clients) in one
    statement, on the running event loop's connections (PostgreSQL; db.direct.ReadBatches):
    each GET then makes its own token check, so a stale token is refused for its own
    request and no other."""
    return await repo.run_views_direct(
        reads,
        [(tenant_id, run_id, (client[1], client[0])) for tenant_id, run_id, client in keys],
        FAILURES_SHOWN,
    )


def checked_bill_run_row(
    reads: DirectReads, raw: tuple[Any, ...] | None, client: tuple[int, str, int]
) -> tuple[Any, ...] | None:
    """``raw`` once the token check on the generation it carries passes (NotAuthenticated
    otherwise)."""
    if raw is not None:
        tenancy.check_generation(repo.direct_generation(reads, raw), client[2])
    return raw


def bill_run_row_view(reads: DirectReads, raw: tuple[Any, ...]) -> BillRunView:
    return BillRunView(*repo.direct_view(reads, raw))


def same_bill_run_rows(reads: DirectReads, a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether two rows of :func:`bill_run_row` are the same view."""
    return repo.same_direct_rows(reads, a, b)
