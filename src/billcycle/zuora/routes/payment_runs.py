"""Zuora ``/v1/payment-runs``: create (run now or at ``runDate``), retrieve, summary,
per-record data, list, update (Pending only), delete (Canceled or Error only).

Zuora publishes no REST cancel for payment runs; ``billcycle payment-run cancel``
cancels a Pending run."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query
from starlette.requests import Request
from starlette.responses import JSONResponse

from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue
from billcycle.idempotency import Answer, request_hash, run_once
from billcycle.ids import parse_zuora_id
from billcycle.paymentruns import service
from billcycle.paymentruns.models import PaymentRun
from billcycle.paymentruns.repository import RunFilters
from billcycle.paymentruns.statuses import PaymentRunStatus
from billcycle.zuora.deps import Ctx
from billcycle.zuora.paging import PageNumber, PageParams, next_page_url
from billcycle.zuora.schemas.payment_runs import (
    STATUS_WORDS,
    PaymentRunRequest,
    data_body,
    parse_payment_run,
    payment_run_body,
    payment_run_patch,
    summary_body,
)

router = APIRouter(prefix="/v1/payment-runs", tags=["Payment Runs"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Same key and body: the first answer again, no second payment run",
    ),
]
# Zuora's limit for payment-run lists.
MAX_LIST_PAGE = 40


def _raw(body: Any) -> dict[str, Any]:
    data: dict[str, Any] = body.model_dump(by_alias=True, exclude_unset=True, mode="json")
    data.update(body.model_extra or {})
    return data


def _find(ctx: ServiceContext, key: str) -> PaymentRun:
    """By 32-hex id or by number (PR-00000001)."""
    run_id = parse_zuora_id(key)
    return service.find_payment_run(ctx, key if run_id is None else run_id)


@router.post("", summary="Create a payment run")
def create_payment_run(
    request: Request,
    ctx: Ctx,
    body: Annotated[PaymentRunRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """`targetDate` alone: the run starts at once and collects receivables due on or
    before it. `runDate` (`yyyy-mm-dd hh:mm:ss`, minutes ignored): the run starts at that
    hour. `data[]` names the records to collect instead of the filters."""
    data = _raw(body)

    def work() -> Answer:
        run = service.create_payment_run(ctx, parse_payment_run(data))
        return Answer(200, {**payment_run_body(run), "success": True})

    answer = run_once(
        ctx,
        scope="POST /v1/payment-runs",
        key=idempotency_key,
        fingerprint=request_hash("POST", request.url.path, data),
        work=work,
    )
    return JSONResponse(answer.body, status_code=answer.status_code)


@router.get("", summary="List payment runs")
def list_payment_runs(
    request: Request,
    ctx: Ctx,
    page: PageParams,
    status: Annotated[str | None, Query(description="Filter by status")] = None,
    target_date: Annotated[date | None, Query(alias="targetDate")] = None,
    created_date: Annotated[datetime | date | None, Query(alias="createdDate")] = None,
    updated_date: Annotated[datetime | date | None, Query(alias="updatedDate")] = None,
) -> dict[str, Any]:
    """Newest first. `createdDate`/`updatedDate` match the day of the given date-time."""
    if status is not None and status not in STATUS_WORDS:
        raise InvalidValue(
            f"Invalid status '{status}'; use one of {', '.join(PaymentRunStatus)}.",
            resource="payment_run",
            field="status",
        )
    if page.size > MAX_LIST_PAGE:
        raise InvalidValue(
            f"pageSize is at most {MAX_LIST_PAGE} for payment runs.",
            resource="payment_run",
            field="pageSize",
        )

    def day(value: datetime | date | None) -> date | None:
        return value.date() if isinstance(value, datetime) else value

    runs, more = service.list_payment_runs(
        ctx,
        RunFilters(
            status=status,
            target_date=target_date,
            created_date=day(created_date),
            updated_date=day(updated_date),
        ),
        page.offset,
        page.size,
    )
    body: dict[str, Any] = {"paymentRuns": [payment_run_body(r) for r in runs], "success": True}
    nxt = next_page_url(request, page, more)
    if nxt:
        body["nextPage"] = nxt
    return body


@router.get(
    "/{payment_run_key}",
    summary="Retrieve a payment run",
    description=(
        "Zuora's PaymentRun fields, then billcycle's `progress`: `receivables` (the run's "
        "records), `processed`, `errors`, `payments`, `chunksTotal`, `chunksDone`, "
        "`errorMessage`. A run that selects its receivables (no `data[]`) selects them "
        "chunk by chunk as each chunk starts, so `receivables` is 0 right after the start, "
        "grows while the run is Processing and is exact once it is Completed."
    ),
)
def get_payment_run(ctx: Ctx, payment_run_key: str) -> dict[str, Any]:
    return {**payment_run_body(_find(ctx, payment_run_key)), "success": True}


@router.get("/{payment_run_key}/summary", summary="Retrieve a payment run's summary")
def get_payment_run_summary(ctx: Ctx, payment_run_key: str) -> dict[str, Any]:
    run = _find(ctx, payment_run_key)
    return summary_body(run, service.summary(ctx, run))


@router.get("/{payment_run_key}/data", summary="Retrieve a payment run's per-record results")
def get_payment_run_data(
    request: Request,
    ctx: Ctx,
    payment_run_key: str,
    page: PageNumber = 1,
    page_size: Annotated[
        int, Query(alias="pageSize", ge=1, le=10_000, description="Records per page")
    ] = 10_000,
) -> dict[str, Any]:
    """Every record in creation order (`page`/`pageSize` are a billcycle extension;
    `nextPage` appears when more records follow)."""
    run = _find(ctx, payment_run_key)
    views, more = service.records(ctx, run, (page - 1) * page_size, page_size)
    body: dict[str, Any] = {"data": [data_body(v) for v in views], "success": True}
    if more:
        body["nextPage"] = str(request.url.include_query_params(page=page + 1, pageSize=page_size))
    return body


@router.put("/{payment_run_key}", summary="Update a Pending payment run")
def update_payment_run(
    ctx: Ctx, payment_run_key: str, body: Annotated[PaymentRunRequest, Body()]
) -> dict[str, Any]:
    """`runDate` takes `yyyy-mm-dd hh:mm:ss` or ISO `2026-03-01T11:30:37` (zuora-sdk)."""
    run = _find(ctx, payment_run_key)
    patch = payment_run_patch(_raw(body), service.spec_of(run))
    run = service.update_payment_run(ctx, run, patch)
    return {**payment_run_body(run), "success": True}


@router.delete("/{payment_run_key}", summary="Delete a Canceled or Error payment run")
def delete_payment_run(ctx: Ctx, payment_run_key: str) -> dict[str, Any]:
    run = _find(ctx, payment_run_key)
    service.delete_payment_run(ctx, run)
    return {"success": True}
