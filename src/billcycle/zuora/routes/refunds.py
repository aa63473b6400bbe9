"""Zuora ``/v1/refunds``: list, retrieve, update, cancel, delete.

Refunds are created from a payment (``POST /v1/payments/{paymentKey}/refunds``). Keys are
the refund's 32-hex id or its number (``R-00000001``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from starlette.requests import Request
from starlette.responses import JSONResponse

from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue
from billcycle.ids import parse_zuora_id
from billcycle.payments import listing, refunds
from billcycle.payments.models import Refund
from billcycle.zuora.deps import Ctx
from billcycle.zuora.errors import error_response
from billcycle.zuora.paging import Page, next_page_url
from billcycle.zuora.routes.payments import refund_answer
from billcycle.zuora.schemas import payments as schemas
from billcycle.zuora.schemas.payment_queries import PageSizeText, PageText, SortText, refund_query

router = APIRouter(prefix="/v1/refunds", tags=["Refunds"])


def find_refund(ctx: ServiceContext, key: str) -> Refund:
    return refunds.find_refund(ctx, refund_id=parse_zuora_id(key), number=key)


@router.get(
    "",
    summary="List refunds",
    response_model=schemas.RefundsResponse,
    response_model_exclude_none=True,
)
def list_refunds(
    request: Request,
    ctx: Ctx,
    page: PageText = None,
    page_size: PageSizeText = None,
    sort: SortText = None,
) -> Any:
    """Filters are query parameters named after response fields: `accountId`, `amount`,
    `createdDate`, `methodType`, `number`, `paymentId`, `refundDate`, `status`, `type`,
    `updatedDate`. A bad parameter gets an invalid-query-parameter error (category 27)."""
    try:
        query = refund_query(dict(request.query_params))
    except InvalidValue as exc:
        return error_response(request, 27, exc.message, resource="refund")
    rows, more = listing.refunds_page(ctx, query)
    numbers = listing.payment_numbers(ctx, [refund.payment_id for refund in rows])
    body: dict[str, Any] = {
        "refunds": [schemas.refund_body(r, numbers.get(r.payment_id)) for r in rows],
        "success": True,
    }
    nxt = next_page_url(request, Page(query.offset // query.limit + 1, query.limit), more)
    if nxt:
        body["nextPage"] = nxt
    return JSONResponse(body)


@router.get("/{refund_key}", summary="Retrieve a refund", response_model=schemas.RefundResponse)
def get_refund(refund_key: str, ctx: Ctx) -> JSONResponse:
    """By 32-hex id or number (`R-00000001`)."""
    return JSONResponse(refund_answer(ctx, find_refund(ctx, refund_key)))


@router.put("/{refund_key}", summary="Update a refund", response_model=schemas.RefundResponse)
def update_refund(
    refund_key: str, ctx: Ctx, body: Annotated[schemas.UpdateRefundRequest, Body()]
) -> JSONResponse:
    """`comment`, `reasonCode` and `referenceId`; the refund's money never changes here."""
    refund = refunds.update_refund(
        ctx,
        find_refund(ctx, refund_key).id,
        comment=body.comment,
        reason_code=body.reason_code,
        reference_id=body.reference_id,
    )
    return JSONResponse(refund_answer(ctx, refund))


@router.put(
    "/{refund_key}/cancel", summary="Cancel a refund", response_model=schemas.RefundResponse
)
def cancel_refund(refund_key: str, ctx: Ctx) -> JSONResponse:
    """A processed External refund only: its money is back on the payment, unapplied."""
    refund = refunds.cancel_refund(ctx, find_refund(ctx, refund_key).id)
    return JSONResponse(refund_answer(ctx, refund))


@router.delete("/{refund_key}", summary="Delete a refund")
def delete_refund(refund_key: str, ctx: Ctx) -> dict[str, Any]:
    """Only a `Canceled` refund can be deleted."""
    refunds.delete_refund(ctx, find_refund(ctx, refund_key).id)
    return {"success": True}
