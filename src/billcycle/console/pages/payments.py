"""Payments (list, page, CSV), payment runs (list, page, cancel, delete) and accounts in
dunning."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from billcycle.accounts import service as accounts
from billcycle.console.pages.common import (
    PAGE_SIZE,
    CurrentViewer,
    _record,
    act,
    csv_download,
    form_text,
    optional_date,
    optional_int,
    read,
    sorting,
    trail,
    units,
)
from billcycle.console.render import page, redirect
from billcycle.console.session import checked_form, runtime_of
from billcycle.context import ServiceContext
from billcycle.db.session import read_only_unit
from billcycle.errors import DomainError, InvalidValue
from billcycle.ids import is_ascii_digits
from billcycle.money import from_minor
from billcycle.paymentruns import service as payment_runs
from billcycle.paymentruns.spec import Filters, PaymentRunSpec
from billcycle.paymentruns.statuses import PaymentRunStatus
from billcycle.payments import service as payments
from billcycle.payments.statuses import PaymentStatus
from billcycle.reports import service as reports

router = APIRouter(include_in_schema=False)
CSV_PAGE = 1000


@router.get("/payments")
def list_payments(
    request: Request,
    viewer: CurrentViewer,
    status: str | None = None,
    account: str | None = None,
    currency: str | None = None,
    sort: str | None = None,
    after: str | None = None,
) -> Response:
    order = sorting(sort, "date")
    account_id = optional_int(account, "account")
    found = read(
        request,
        viewer,
        lambda ctx: reports.payments(
            ctx,
            status=status,
            account_id=account_id,
            currency=currency,
            sort=order,
            after=after,
            limit=PAGE_SIZE,
        ),
    )
    return page(
        request,
        "payments.html.j2",
        title="Payments",
        payments=found,
        status=status or "",
        account=account or "",
        currency=currency or "",
        sort=sort or "-date",
        statuses=list(PaymentStatus),
    )


@router.get("/payments.csv")
def payments_csv(request: Request, viewer: CurrentViewer, status: str | None = None) -> Response:
    runtime = runtime_of(request)

    def pages() -> Iterator[list[list[Any]]]:
        after: str | None = None
        with read_only_unit(runtime.session_factory) as session:
            ctx = runtime.context(session, viewer.tenant_id)
            while True:
                found = reports.payments(
                    ctx,
                    status=status,
                    account_id=None,
                    currency=None,
                    sort=reports.Sorting("number", False),
                    after=after,
                    limit=CSV_PAGE,
                )
                yield [
                    [
                        r.number,
                        r.account_number,
                        r.status,
                        r.effective_date,
                        r.currency,
                        from_minor(r.amount_minor, r.currency),
                        r.payment_type,
                    ]
                    for r in found.rows
                ]
                if found.next_cursor is None:
                    return
                after = found.next_cursor

    header = [
        "payment_number",
        "account_number",
        "status",
        "effective_date",
        "currency",
        "amount",
        "type",
    ]
    return csv_download("payments.csv", header, pages())


@router.get("/payments/{payment_id}")
def payment_page(request: Request, viewer: CurrentViewer, payment_id: int) -> Response:
    def work(ctx: ServiceContext) -> tuple[Any, Any]:
        payment = payments.get_payment(ctx, payment_id)
        return payments.view_payment(ctx, payment), trail(ctx, "payment", payment.id)

    view, history = read(request, viewer, work)
    return page(
        request,
        "payment.html.j2",
        title=f"Payment {view.payment.number}",
        view=view,
        payment=view.payment,
        trail=history,
    )


@router.get("/payment-runs")
def list_payment_runs(
    request: Request, viewer: CurrentViewer, status: str | None = None, after: str | None = None
) -> Response:
    found = read(
        request,
        viewer,
        lambda ctx: reports.payment_runs(
            ctx, statuses=[status] if status else [], after=after, limit=PAGE_SIZE
        ),
    )
    return page(
        request,
        "payment_runs.html.j2",
        title="Payment runs",
        runs=found,
        status=status or "",
        statuses=list(PaymentRunStatus),
    )


@router.get("/payment-runs/new")
def new_payment_run_form(request: Request, viewer: CurrentViewer) -> Response:
    return page(
        request,
        "payment_run_new.html.j2",
        title="New payment run",
        values=dict.fromkeys(_RUN_FIELDS, ""),
        errors={},
    )


_RUN_FIELDS = ("target_date", "account_number", "batch", "currency")


def _payment_run_spec(ctx: ServiceContext, form: FormData) -> PaymentRunSpec:
    target = optional_date(form_text(form, "target_date"), "target_date")
    number = form_text(form, "account_number")
    account_id: int | None = None
    if number:
        try:
            account_id = accounts.find_account(ctx, account_id=None, number=number).id
        except DomainError:
            raise InvalidValue(
                f"No account is numbered {number}.", field="account_number"
            ) from None
    batch_text = form_text(form, "batch")
    batch: int | None = None
    if batch_text:
        if not is_ascii_digits(batch_text) or not 1 <= int(batch_text) <= 50:
            raise InvalidValue("A batch is a number from 1 to 50.", field="batch")
        batch = int(batch_text)
    currency = form_text(form, "currency").upper() or None
    return PaymentRunSpec(
        target_date=target,
        filters=Filters(account_id=account_id, batch=batch, currency=currency),
    )


@router.post("/payment-runs/new")
async def create_payment_run(request: Request, viewer: CurrentViewer) -> Response:
    form = await checked_form(request, viewer)

    def work(ctx: ServiceContext) -> int:
        spec = _payment_run_spec(ctx, form)
        return payment_runs.create_payment_run(ctx, spec, created_by=viewer.email).id

    try:
        run_id = await units(request, viewer).write(work)
    except DomainError as exc:
        field = exc.field if exc.field in _RUN_FIELDS else "form"
        return page(
            request,
            "payment_run_new.html.j2",
            code=400,
            title="New payment run",
            values={k: form_text(form, k) for k in _RUN_FIELDS},
            errors={field: str(exc)},
        )
    _record(
        request,
        viewer,
        runtime_of(request).machine_clock.now(),
        "create",
        "payment_run",
        run_id,
        "ok",
    )
    return redirect(request, f"/payment-runs/{run_id}", notice="The payment run was created.")


@router.get("/payment-runs/{run_id}")
def payment_run_page(request: Request, viewer: CurrentViewer, run_id: int) -> Response:
    def work(ctx: ServiceContext) -> tuple[Any, Any, Any]:
        run = payment_runs.find_payment_run(ctx, run_id)
        return run, payment_runs.summary(ctx, run), trail(ctx, "payment_run", run.id)

    run, summary, history = read(request, viewer, work)
    live = run.status in (PaymentRunStatus.PENDING, PaymentRunStatus.PROCESSING)
    return page(
        request,
        "payment_run.html.j2",
        title=f"Payment run {run.payment_run_number}",
        run=run,
        summary=summary,
        live=live,
        can_cancel=run.status == PaymentRunStatus.PENDING,
        can_delete=run.status in (PaymentRunStatus.CANCELED, PaymentRunStatus.ERROR),
        trail=history,
    )


@router.post("/payment-runs/{run_id}/cancel")
async def cancel_payment_run(request: Request, viewer: CurrentViewer, run_id: int) -> Response:
    await checked_form(request, viewer)
    return await act(
        request,
        viewer,
        action="cancel",
        object_type="payment_run",
        object_id=run_id,
        work=lambda ctx: payment_runs.cancel_payment_run(
            ctx, payment_runs.find_payment_run(ctx, run_id)
        ),
        back=f"/payment-runs/{run_id}",
        notice="The payment run was cancelled.",
    )


@router.post("/payment-runs/{run_id}/delete")
async def delete_payment_run(request: Request, viewer: CurrentViewer, run_id: int) -> Response:
    await checked_form(request, viewer)
    return await act(
        request,
        viewer,
        action="delete",
        object_type="payment_run",
        object_id=run_id,
        work=lambda ctx: payment_runs.delete_payment_run(
            ctx, payment_runs.find_payment_run(ctx, run_id)
        ),
        back="/payment-runs",
        notice="The payment run was deleted.",
    )


@router.get("/collections")
def dunning(request: Request, viewer: CurrentViewer, after: str | None = None) -> Response:
    def work(ctx: ServiceContext) -> tuple[Any, dict[int, Any]]:
        found = reports.accounts_in_dunning(ctx, after=after, limit=PAGE_SIZE)
        return found, reports.next_retries(ctx, [r.id for r in found.rows])

    found, retries = read(request, viewer, work)
    return page(
        request,
        "collections.html.j2",
        title="Accounts in dunning",
        accounts=found,
        retries=retries,
    )
