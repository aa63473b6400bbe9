"""Zuora routes: ``/v1/invoices/{invoiceKey}`` (retrieve, items, post, cancel, write off)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request

from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue
from billcycle.ids import parse_zuora_id, to_zuora_id
from billcycle.invoicing import queries, service
from billcycle.invoicing.models import Invoice
from billcycle.money import parse_amount
from billcycle.zuora.deps import Ctx
from billcycle.zuora.paging import Page, PageNumber, next_page_url
from billcycle.zuora.schemas import invoices as schemas
from billcycle.zuora.schemas.base import zuora_datetime

router = APIRouter(prefix="/v1/invoices", tags=["Invoices"])

# zuora-sdk caps pageSize at 40 for invoice items.
MAX_ITEMS_PAGE_SIZE = 40


def item_page(
    page: PageNumber = 1,
    page_size: Annotated[
        int, Query(alias="pageSize", ge=1, le=MAX_ITEMS_PAGE_SIZE, description="Items per page")
    ] = 20,
) -> Page:
    return Page(number=page, size=page_size)


# The SDK always sends a body; other clients may send none (and rejectUnknownFields still
# needs the model as the body's annotation to check it).
_NO_POST_OPTIONS = schemas.PostInvoiceRequest()


def _invoice(ctx: ServiceContext, invoice_key: str) -> Invoice:
    """Zuora's invoice key: the 32-hex id or the invoice number."""
    return service.find_invoice(ctx, invoice_id=parse_zuora_id(invoice_key), number=invoice_key)


@router.get(
    "/{invoice_key}",
    response_model=schemas.InvoiceResponse,
    response_model_exclude_none=True,
    summary="Retrieve an invoice",
)
def get_invoice(invoice_key: str, ctx: Ctx) -> schemas.InvoiceResponse:
    """An invoice with its balance and what payments, credits and write-offs applied."""
    invoice = _invoice(ctx, invoice_key)
    return schemas.invoice_response(queries.invoice_view(ctx, invoice))


@router.get(
    "/{invoice_key}/items",
    response_model=schemas.InvoiceItemsResponse,
    response_model_exclude_none=True,
    summary="List all items of an invoice",
)
def get_invoice_items(
    invoice_key: str, request: Request, ctx: Ctx, page: Annotated[Page, Depends(item_page)]
) -> schemas.InvoiceItemsResponse:
    """The invoice's items in order; service end dates are inclusive, as in Zuora."""
    invoice = _invoice(ctx, invoice_key)
    views = queries.invoice_items(ctx, invoice, offset=page.offset, limit=page.size + 1)
    has_more = len(views) > page.size
    charge_date = zuora_datetime(invoice.created_at)
    return schemas.InvoiceItemsResponse(
        invoice_items=[
            schemas.item_response(view, invoice.currency, charge_date)
            for view in views[: page.size]
        ],
        next_page=next_page_url(request, page, has_more),
    )


@router.put(
    "/{invoice_key}/post",
    response_model=schemas.AsyncOperationResponse,
    response_model_exclude_none=True,
    summary="Post an invoice",
)
def post_invoice(
    invoice_key: str, ctx: Ctx, body: schemas.PostInvoiceRequest = _NO_POST_OPTIONS
) -> schemas.AsyncOperationResponse:
    """Draft -> Posted. ``invoiceDate`` re-dates the invoice; its due date follows the
    account's payment term. The body may be left out."""
    invoice = _invoice(ctx, invoice_key)
    posted = service.post_invoice(ctx, invoice, body.invoice_date)
    return schemas.AsyncOperationResponse(id=to_zuora_id(posted.id))


@router.put(
    "/{invoice_key}/cancel",
    response_model=schemas.AsyncOperationResponse,
    response_model_exclude_none=True,
    summary="Cancel an invoice",
)
def cancel_invoice(invoice_key: str, ctx: Ctx) -> schemas.AsyncOperationResponse:
    """Draft -> Canceled; the invoice's periods become billable again. Only the latest
    invoice of a charge can be cancelled."""
    invoice = _invoice(ctx, invoice_key)
    canceled = service.cancel_invoice(ctx, invoice)
    return schemas.AsyncOperationResponse(id=to_zuora_id(canceled.id))


@router.put(
    "/{invoice_key}/write-off",
    response_model=schemas.WriteOffInvoiceResponse,
    response_model_exclude_none=True,
    summary="Write off an invoice",
)
def write_off_invoice(
    invoice_key: str, body: schemas.WriteOffInvoiceRequest, ctx: Ctx
) -> schemas.WriteOffInvoiceResponse:
    """Write off the whole balance of a posted invoice. The answer's credit memo id is the
    write-off's id (the same the Fusebill dialect shows)."""
    invoice = _invoice(ctx, invoice_key)
    amount = (
        parse_amount(body.amount, invoice.currency, field="amount")
        if body.amount is not None
        else None
    )
    item_ids: list[int] | None = None
    if body.items is not None:
        item_ids = []
        for item in body.items:
            item_id = parse_zuora_id(item.invoice_item_id)
            if item_id is None:
                raise InvalidValue(
                    f"Invalid value for items.invoiceItemId: '{item.invoice_item_id}'.",
                    resource="invoice_item",
                    field="invoiceItemId",
                )
            item_ids.append(item_id)
    entry = service.write_off_invoice(
        ctx,
        invoice,
        amount=amount,
        comment=body.comment,
        memo_date=body.memo_date,
        reason_code=body.reason_code,
        item_ids=item_ids,
    )
    return schemas.write_off_response(entry)
