"""Bill runs: list, new ad hoc run, detail with a live progress card, drafts and failures,
and the transitions allowed in the run's state (post, cancel, email, delete)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from billcycle.accounts import service as accounts
from billcycle.billruns import schedule as schedules
from billcycle.billruns import service as bill_runs
from billcycle.billruns.columns import schedule_of
from billcycle.billruns.spec import BillRunFilter, BillRunSpec, CycleDays, FilterType
from billcycle.billruns.statuses import BillRunStatus
from billcycle.console.pages.common import (
    PAGE_SIZE,
    CurrentViewer,
    act,
    form_text,
    read,
    sorting,
    trail,
)
from billcycle.console.render import fragment, page
from billcycle.console.session import checked_form
from billcycle.context import ServiceContext
from billcycle.errors import DomainError, InvalidValue
from billcycle.ids import is_ascii_digits
from billcycle.reports import service as reports

router = APIRouter(include_in_schema=False)

LIVE = frozenset(reports.RUNS_IN_PROGRESS)


def allowed_actions(status: str, scheduled: bool) -> list[str]:
    """The buttons a run shows in its state (the service decides again when pressed)."""
    found: list[str] = []
    if status == BillRunStatus.COMPLETED:
        found.append("post")
    if status in (BillRunStatus.PENDING, BillRunStatus.COMPLETED):
        found.append("cancel")
        if scheduled:
            found.append("cancel_series")
    if status == BillRunStatus.POSTED:
        found.append("email")
    if status in (BillRunStatus.CANCELED, BillRunStatus.ERROR):
        found.append("delete")
    return found


@router.get("/bill-runs")
def list_runs(
    request: Request,
    viewer: CurrentViewer,
    status: str | None = None,
    sort: str | None = None,
    after: str | None = None,
) -> Response:
    order = sorting(sort, "created")
    runs = read(
        request,
        viewer,
        lambda ctx: reports.bill_runs(
            ctx,
            statuses=[status] if status else [],
            scheduled=False,
            sort=order,
            after=after,
            limit=PAGE_SIZE,
        ),
    )
    return page(
        request,
        "bill_runs.html.j2",
        title="Bill runs",
        runs=runs,
        status=status or "",
        statuses=list(BillRunStatus),
        sort=sort or "-created",
    )


@router.get("/bill-runs/scheduled")
def scheduled_runs(request: Request, viewer: CurrentViewer, after: str | None = None) -> Response:
    def work(ctx: ServiceContext) -> tuple[Any, dict[int, list[Any]]]:
        runs = reports.bill_runs(
            ctx, scheduled=True, statuses=[BillRunStatus.PENDING], after=after, limit=PAGE_SIZE
        )
        upcoming = {
            run.id: _next_times(schedule_of(run.schedule), run.scheduled_execution_time)
            for run in runs.rows
        }
        return runs, upcoming

    runs, upcoming = read(request, viewer, work)
    return page(
        request, "scheduled_runs.html.j2", title="Scheduled bill runs", runs=runs, upcoming=upcoming
    )


def _next_times(spec: schedules.BillRunSchedule | None, first: datetime | None) -> list[datetime]:
    """The run's next occurrence and the two after it."""
    if first is None:
        return []
    times = [first]
    while spec is not None and len(times) < 3:
        following = schedules.next_execution_time(spec, times[-1])
        if following is None:
            break
        times.append(following)
    return times


@router.get("/bill-runs/new")
def new_run_form(request: Request, viewer: CurrentViewer) -> Response:
    today = read(request, viewer, lambda ctx: ctx.clock.today())
    return page(
        request,
        "bill_run_new.html.j2",
        title="New bill run",
        values={
            "target_date": today.isoformat(),
            "invoice_date": today.isoformat(),
            "batches": "",
            "bill_cycle_day": "All",
            "account_number": "",
            "name": "",
        },
        errors={},
    )


def _spec(ctx: ServiceContext, form: FormData) -> BillRunSpec:
    """The ad hoc run the form asks for; ``InvalidValue`` names the field at fault."""

    def day(name: str, required: bool) -> date | None:
        text = form_text(form, name)
        if not text:
            if required:
                raise InvalidValue("Give a date.", field=name)
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise InvalidValue("A date reads YYYY-MM-DD.", field=name) from None

    target = day("target_date", True)
    invoice = day("invoice_date", False) or ctx.clock.today()
    number = form_text(form, "account_number")
    filters: tuple[BillRunFilter, ...] = ()
    batches: tuple[int, ...] | None = ()
    cycle: Any = CycleDays.ALL
    if number:
        try:
            account = accounts.find_account(ctx, account_id=None, number=number)
        except DomainError:
            raise InvalidValue(
                f"No account is numbered {number}.", field="account_number"
            ) from None
        filters = (BillRunFilter(FilterType.ACCOUNT, account.id),)
        batches, cycle = None, None
    else:
        text = form_text(form, "batches")
        if text:
            try:
                batches = tuple(
                    sorted(
                        {
                            accounts.parse_batch(
                                p.strip()
                                if p.strip().lower().startswith("batch")
                                else f"Batch{p.strip()}"
                            )
                            for p in text.split(",")
                            if p.strip()
                        }
                    )
                )
            except DomainError:
                raise InvalidValue(
                    "Batches are numbers 1 to 50, separated by commas.", field="batches"
                ) from None
        cycle_text = form_text(form, "bill_cycle_day") or "All"
        if cycle_text != "All":
            if not is_ascii_digits(cycle_text) or not 1 <= int(cycle_text) <= 31:
                raise InvalidValue("A bill cycle day is All or 1 to 31.", field="bill_cycle_day")
            cycle = int(cycle_text)
    return BillRunSpec(
        name=form_text(form, "name") or None,
        batches=batches,
        bill_cycle_day=cycle,
        filters=filters,
        target_date=target,
        invoice_date=invoice,
        auto_post=form.get("auto_post") == "on",
        auto_email=form.get("auto_email") == "on",
    )


@router.post("/bill-runs/new")
async def create_run(request: Request, viewer: CurrentViewer) -> Response:
    form = await checked_form(request, viewer)

    def work(ctx: ServiceContext) -> int:
        run = bill_runs.create_bill_run(ctx, _spec(ctx, form), created_by=viewer.email)
        return run.id

    from billcycle.console.pages.common import units
    from billcycle.console.render import redirect

    try:
        run_id = await units(request, viewer).write(work)
    except DomainError as exc:
        field = exc.field if isinstance(exc, InvalidValue) and exc.field else "form"
        return page(
            request,
            "bill_run_new.html.j2",
            code=400,
            title="New bill run",
            values={
                k: form_text(form, k)
                for k in (
                    "target_date",
                    "invoice_date",
                    "batches",
                    "bill_cycle_day",
                    "account_number",
                    "name",
                )
            },
            errors={field: str(exc)},
        )
    from billcycle.console.pages.common import _record
    from billcycle.console.session import runtime_of

    _record(
        request, viewer, runtime_of(request).machine_clock.now(), "create", "bill_run", run_id, "ok"
    )
    return redirect(request, f"/bill-runs/{run_id}", notice="The bill run was created.")


def _detail(ctx: ServiceContext, run_id: int) -> bill_runs.BillRunView:
    return bill_runs.view_bill_run(ctx, run_id)


@router.get("/bill-runs/{run_id}")
def run_detail(
    request: Request,
    viewer: CurrentViewer,
    run_id: int,
    tab: str = "drafts",
    after: str | None = None,
) -> Response:
    def work(ctx: ServiceContext) -> tuple[Any, Any, Any, Any]:
        view = _detail(ctx, run_id)
        emails = reports.run_emails(ctx, run_id) if tab == "emails" else []
        history = trail(ctx, "bill_run", run_id) if tab == "history" else []
        invoices = (
            reports.invoices(
                ctx,
                reports.InvoiceFilter(bill_run_id=run_id),
                # Creation order (the run numbers its invoices as it creates them): the
                # primary key pages a million-invoice run; by number the planner sorted
                # the run's invoices on each page (~150 ms at a million).
                sort=reports.Sorting("created", False),
                after=after,
                limit=PAGE_SIZE,
            )
            if tab == "drafts"
            else None
        )
        return view, invoices, emails, history

    view, invoices, emails, history = read(request, viewer, work)
    run = view.run
    return page(
        request,
        "bill_run.html.j2",
        title=f"Bill run {run.bill_run_number}",
        view=view,
        run=run,
        invoices=invoices,
        emails=emails,
        trail=history,
        tab=tab,
        live=run.status in LIVE,
        actions=allowed_actions(run.status, run.schedule is not None),
        now=runtime_now(request),
    )


@router.get("/bill-runs/{run_id}/progress")
def run_progress(request: Request, viewer: CurrentViewer, run_id: int) -> Response:
    """The progress card alone (htmx polls it while the run moves): one query."""
    view = read(request, viewer, lambda ctx: _detail(ctx, run_id))
    response = fragment(
        request,
        "_run_progress.html.j2",
        view=view,
        run=view.run,
        live=view.run.status in LIVE,
        now=runtime_now(request),
    )
    if view.run.status not in LIVE:
        # The run settled: reload the page once so its buttons and tabs follow.
        response.headers["HX-Refresh"] = "true"
    return response


def runtime_now(request: Request) -> Any:
    from billcycle.console.session import runtime_of

    return runtime_of(request).machine_clock.now()


def _transition(name: str) -> Any:
    async def handler(request: Request, viewer: CurrentViewer, run_id: int) -> Response:
        await checked_form(request, viewer)

        def work(ctx: ServiceContext) -> None:
            run = bill_runs.find_bill_run(ctx, run_id)
            if name == "post":
                bill_runs.post_bill_run(ctx, run, None)
            elif name == "cancel":
                bill_runs.cancel_bill_run(ctx, run, cancel_once=True)
            elif name == "cancel_series":
                bill_runs.cancel_bill_run(ctx, run, cancel_once=False)
            elif name == "email":
                bill_runs.email_bill_run(ctx, run, resend=True)
            else:
                bill_runs.delete_bill_run(ctx, run)

        notices = {
            "post": "Posting started.",
            "cancel": "Cancelling started.",
            "cancel_series": "Cancelling started; the series will not run again.",
            "email": "Emails are being sent.",
            "delete": "Deleting started.",
        }
        back = "/bill-runs" if name == "delete" else f"/bill-runs/{run_id}"
        return await act(
            request,
            viewer,
            action=name,
            object_type="bill_run",
            object_id=run_id,
            work=work,
            back=back,
            notice=notices[name],
        )

    return handler


for _name in ("post", "cancel", "cancel_series", "email", "delete"):
    router.add_api_route(
        f"/bill-runs/{{run_id}}/{_name.replace('_', '-')}", _transition(_name), methods=["POST"]
    )
