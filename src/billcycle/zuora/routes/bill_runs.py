"""Zuora ``/v1/bill-runs``: create, read, update, post, cancel, delete, email, and list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from billcycle.billruns import service
from billcycle.billruns.statuses import BillRunStatus
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue
from billcycle.idempotency import Answer, request_hash, run_once
from billcycle.ids import parse_zuora_id
from billcycle.web.responses import json_response
from billcycle.zuora.deps import Ctx, Work
from billcycle.zuora.paging import PageParams, next_page_url
from billcycle.zuora.schemas.bill_run_request import (
    bill_run_patch,
    parse_bill_run_request,
    zuora_wording,
)
from billcycle.zuora.schemas.bill_runs import (
    BillRunRequest,
    CancelBillRunRequest,
    EmailBillRunRequest,
    PostBillRunRequest,
    bill_run_body,
)

router = APIRouter(prefix="/v1/bill-runs", tags=["Bill Runs"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Same key and body: the first answer again, no second bill run",
    ),
]
_STATUS_WORDS = frozenset(BillRunStatus)


def _raw(body: Any) -> dict[str, Any]:
    data: dict[str, Any] = body.model_dump(by_alias=True, exclude_unset=True, mode="json")
    data.update(body.model_extra or {})
    return data


def _key(text: str) -> int | str:
    """A bill run's key as the service takes it: the id behind 32 hex digits, else the
    text as a number (BR-00000001)."""
    run_id = parse_zuora_id(text)
    return text if run_id is None else run_id


@router.post("", summary="Create a bill run")
def create_bill_run(
    request: Request,
    ctx: Ctx,
    body: Annotated[BillRunRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """An ad hoc run (with `targetDate`) starts at once; a run with a `schedule` waits for
    its `scheduledExecutionTime`."""
    data = _raw(body)

    def work() -> Answer:
        spec = parse_bill_run_request(data)
        with zuora_wording():
            run = service.create_bill_run(ctx, spec, created_by=None)
        return Answer(200, {**bill_run_body(run), "success": True})

    answer = run_once(
        ctx,
        scope="POST /v1/bill-runs",
        key=idempotency_key,
        fingerprint=request_hash("POST", request.url.path, data),
        work=work,
    )
    return JSONResponse(answer.body, status_code=answer.status_code)


@router.get("", summary="List bill runs (billcycle extension)")
def list_bill_runs(
    request: Request,
    ctx: Ctx,
    page: PageParams,
    status: Annotated[str | None, Query(description="Filter by status")] = None,
) -> dict[str, Any]:
    if status is not None and status not in _STATUS_WORDS:
        raise InvalidValue(
            f"Invalid status '{status}'; use one of {', '.join(BillRunStatus)}.",
            resource="bill_run",
        )
    runs, more = service.list_bill_runs(ctx, status, page.offset, page.size)
    body: dict[str, Any] = {"billRuns": [bill_run_body(r) for r in runs], "success": True}
    nxt = next_page_url(request, page, more)
    if nxt:
        body["nextPage"] = nxt
    return body


def bill_run_view(
    ctx: ServiceContext, key: str, client: tuple[int, str, int] | None = None
) -> dict[str, Any]:
    view = service.view_bill_run(ctx, _key(key), client)
    return {**bill_run_body(view.run, view.totals, view.failures), "success": True}


@router.get("/{bill_run_id}", summary="Retrieve a bill run", response_model=dict[str, Any])
async def get_bill_run(work: Work, bill_run_id: str) -> Response:
    # The hot polling path (billcycle.zuora.hot_reads answers it before the router):
    # read inline, the token check and the run in one query by id (three by number).
    return json_response(
        work.read_as_client(lambda ctx, client: bill_run_view(ctx, bill_run_id, client))
    )


@router.put("/{bill_run_id}", summary="Update a Pending bill run")
def update_bill_run(
    ctx: Ctx, bill_run_id: str, body: Annotated[BillRunRequest, Body()]
) -> dict[str, Any]:
    run = service.find_bill_run(ctx, _key(bill_run_id))
    with zuora_wording():
        run = service.update_bill_run(ctx, run, bill_run_patch(_raw(body)))
    return {**bill_run_body(run), "success": True}


@router.put("/{bill_run_id}/post", summary="Post a Completed bill run")
def post_bill_run(
    ctx: Ctx, bill_run_id: str, body: Annotated[PostBillRunRequest | None, Body()] = None
) -> dict[str, Any]:
    run = service.find_bill_run(ctx, _key(bill_run_id))
    run = service.post_bill_run(ctx, run, body.invoice_date if body else None)
    return {**bill_run_body(run), "success": True}


@router.put("/{bill_run_id}/cancel", summary="Cancel a bill run")
def cancel_bill_run(
    ctx: Ctx, bill_run_id: str, body: Annotated[CancelBillRunRequest | None, Body()] = None
) -> dict[str, Any]:
    """`cancelOnce` (default true) cancels only this occurrence of a scheduled run and
    answers the next one as `nextRun`; false cancels every future occurrence."""
    run = service.find_bill_run(ctx, _key(bill_run_id))
    run, next_run = service.cancel_bill_run(
        ctx, run, cancel_once=body.cancel_once if body else True
    )
    return {
        **bill_run_body(run),
        "nextRun": bill_run_body(next_run) if next_run is not None else None,
        "success": True,
    }


@router.delete("/{bill_run_id}", summary="Delete a Canceled or Error bill run")
def delete_bill_run(ctx: Ctx, bill_run_id: str) -> dict[str, Any]:
    run = service.find_bill_run(ctx, _key(bill_run_id))
    run = service.delete_bill_run(ctx, run)
    return {**bill_run_body(run), "success": True}


@router.post("/{bill_run_key}/emails", summary="Email a bill run's posted invoices")
def email_bill_run(
    request: Request,
    ctx: Ctx,
    bill_run_key: str,
    body: Annotated[EmailBillRunRequest | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """`resend=false` (default) skips invoices that were already emailed."""
    resend = body.resend if body else False

    def work() -> Answer:
        run = service.find_bill_run(ctx, _key(bill_run_key))
        service.email_bill_run(ctx, run, resend=resend)
        return Answer(200, {"success": True})

    answer = run_once(
        ctx,
        scope=f"POST /v1/bill-runs/{bill_run_key}/emails",
        key=idempotency_key,
        fingerprint=request_hash("POST", request.url.path, {"resend": resend}),
        work=work,
    )
    return JSONResponse(answer.body, status_code=answer.status_code)
