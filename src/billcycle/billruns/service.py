"""Bill runs as the API sees them: create, read, update, and the guarded transitions
that hand the heavy work to workers (post, cancel, delete, email).

Each transition is decided under the run's row lock and applied with a conditional
UPDATE, so two concurrent calls cannot both win; the work itself is enqueued only after
the transaction commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Row

from billcycle.accounts.repository import get_account
from billcycle.billruns import engine
from billcycle.billruns import repository as repo
from billcycle.billruns import schedule as schedules
from billcycle.billruns import spec as specs
from billcycle.billruns.models import BillRun
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, NotFound, RuleViolation
from billcycle.ids import parse_zuora_id
from billcycle.subscriptions.models import Subscription
from billcycle.tenancy.numbers import next_number

RESOURCE = "bill_run"
MAX_PENDING_API_RUNS = 500


def _rule(message: str) -> RuleViolation:
    return RuleViolation(message, resource=RESOURCE)


def find_bill_run(ctx: ServiceContext, key: str, *, lock: bool = False) -> BillRun:
    """By id (32 hex) or number (BR-00000001); another tenant's run is not found."""
    run_id = parse_zuora_id(key)
    run = (
        repo.get_run(ctx.session, ctx.tenant_id, run_id, lock=lock)
        if run_id is not None
        else repo.find_run_by_number(ctx.session, ctx.tenant_id, key, lock=lock)
    )
    if run is None:
        raise NotFound(f"Bill run {key} not found.", resource=RESOURCE)
    return run


def _check_filters(ctx: ServiceContext, spec: specs.BillRunSpec) -> None:
    for item in spec.filters:
        if get_account(ctx.session, ctx.tenant_id, item.account_id) is None:
            raise InvalidValue(
                f"billRunFilters: account {item.account_id:032x} does not exist.",
                resource=RESOURCE,
            )
        if item.subscription_id is not None:
            sub = ctx.session.get(Subscription, item.subscription_id)
            if sub is None or sub.tenant_id != ctx.tenant_id or sub.account_id != item.account_id:
                raise InvalidValue(
                    f"billRunFilters: subscription {item.subscription_id:032x} does not "
                    f"belong to account {item.account_id:032x}.",
                    resource=RESOURCE,
                )


def create_bill_run(
    ctx: ServiceContext, data: Mapping[str, Any], *, created_by: str | None = None
) -> BillRun:
    today = ctx.clock.today()
    spec = specs.parse_bill_run_request(data, today=today)
    _check_filters(ctx, spec)
    if repo.count_pending_api_runs(ctx.session, ctx.tenant_id) >= MAX_PENDING_API_RUNS:
        raise _rule(
            f"There are already {MAX_PENDING_API_RUNS} Pending bill runs created through the "
            "API; wait for some to run or cancel them."
        )
    now = ctx.clock.now()
    run = BillRun(
        **specs.to_columns(spec),
        tenant_id=ctx.tenant_id,
        bill_run_number=next_number(ctx.session, ctx.tenant_id, "bill_run"),
        status=engine.PENDING,
        created_via_api=True,
        created_by_id=created_by,
        updated_by_id=created_by,
        created_at=now,
        updated_at=now,
    )
    if spec.schedule is not None:
        when = schedules.first_execution_time(spec.schedule, now)
        if when is None:
            raise InvalidValue(
                "The schedule has no occurrence left: check repeatFrom, repeatTo and runTime.",
                resource=RESOURCE,
                field="schedule",
            )
        run.scheduled_execution_time = when
    repo.add_run(ctx.session, run)
    if spec.schedule is not None:
        run.series_id = run.id
        ctx.session.flush()
    else:
        ctx.enqueue("bill_run.start", tenant_id=ctx.tenant_id, run_id=run.id)
    return run


def update_bill_run(
    ctx: ServiceContext, run: BillRun, data: Mapping[str, Any], *, updated_by: str | None = None
) -> BillRun:
    repo.lock_run(ctx.session, run)
    if run.status != engine.PENDING:
        raise _rule(
            f"Bill run {run.bill_run_number} is {run.status}; only a Pending bill run "
            "can be updated."
        )
    spec = specs.parse_bill_run_request(data, today=ctx.clock.today(), existing=specs.from_row(run))
    _check_filters(ctx, spec)
    for column, value in specs.to_columns(spec).items():
        setattr(run, column, value)
    if spec.schedule is not None:
        when = schedules.first_execution_time(spec.schedule, ctx.clock.now())
        if when is None:
            raise InvalidValue(
                "The schedule has no occurrence left.", resource=RESOURCE, field="schedule"
            )
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
    if run.status != engine.COMPLETED:
        raise _rule(
            f"Bill run {run.bill_run_number} is {run.status}; only a Completed bill run "
            "can be posted."
        )
    values: dict[str, Any] = {"updated_at": ctx.clock.now()}
    if invoice_date is not None:
        values["invoice_date"] = invoice_date
    if not repo.transition(ctx.session, run, [engine.COMPLETED], engine.POST_IN_PROGRESS, **values):
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
    if run.status not in (engine.PENDING, engine.COMPLETED):
        raise _rule(
            f"Bill run {run.bill_run_number} is {run.status}; only a Pending or "
            "Completed bill run can be canceled."
        )
    if run.status == engine.COMPLETED and repo.has_posted_invoices(
        ctx.session, ctx.tenant_id, run.id
    ):
        raise _rule(f"Bill run {run.bill_run_number} has posted invoices and cannot be canceled.")
    now = ctx.clock.now()
    previous = run.status
    if not repo.transition(ctx.session, run, [previous], engine.CANCEL_IN_PROGRESS, updated_at=now):
        raise _rule(f"Bill run {run.bill_run_number} changed status meanwhile; try again.")
    next_run: BillRun | None = None
    if run.schedule is not None and run.series_id is not None:
        if cancel_once:
            if previous == engine.PENDING:
                next_run = engine.schedule_next(ctx, run)
            else:
                next_run = _pending_occurrence(ctx, run.series_id)
        else:
            for other in repo.series_pending(ctx.session, ctx.tenant_id, run.series_id):
                repo.transition(
                    ctx.session, other, [engine.PENDING], engine.CANCELED, updated_at=now
                )
    ctx.enqueue("bill_run.cancel", tenant_id=ctx.tenant_id, run_id=run.id)
    return run, next_run


def _pending_occurrence(ctx: ServiceContext, series_id: int) -> BillRun | None:
    pending = repo.series_pending(ctx.session, ctx.tenant_id, series_id)
    return min(pending, key=lambda r: r.id) if pending else None


def delete_bill_run(ctx: ServiceContext, run: BillRun) -> BillRun:
    """Canceled or Error -> RemoveInProgress; a worker removes the run and its invoices."""
    repo.lock_run(ctx.session, run)
    if run.status not in (engine.CANCELED, engine.ERROR):
        raise _rule(
            f"Bill run {run.bill_run_number} is {run.status}; only a Canceled or "
            "Error bill run can be deleted."
        )
    if not repo.transition(
        ctx.session, run, [run.status], engine.REMOVE_IN_PROGRESS, updated_at=ctx.clock.now()
    ):
        raise _rule(f"Bill run {run.bill_run_number} changed status meanwhile; try again.")
    ctx.enqueue("bill_run.delete", tenant_id=ctx.tenant_id, run_id=run.id)
    return run


def email_bill_run(ctx: ServiceContext, run: BillRun, *, resend: bool) -> None:
    """Email the run's posted invoices (only posted documents are emailed)."""
    if run.status not in (engine.POSTED, engine.COMPLETED, engine.POST_IN_PROGRESS):
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

    run: Row[Any]
    totals: dict[str, int]
    failures: list[tuple[int, str]]


def view_bill_run(ctx: ServiceContext, key: str) -> BillRunView:
    """By id (32 hex, one query) or number; another tenant's run is not found."""
    found = repo.run_view(
        ctx.session,
        ctx.tenant_id,
        run_id=parse_zuora_id(key),
        number=key,
        failure_limit=FAILURES_SHOWN,
    )
    if found is None:
        raise NotFound(f"Bill run {key} not found.", resource=RESOURCE)
    return BillRunView(*found)
