"""Fusebill routes: ``GET /v1/Invoices/pdf/{id}`` (a posted invoice as PDF) and
``GET /v1/draftInvoices/pdf/{id}`` (a draft invoice as PDF).

Fusebill serves posted and draft invoices as separate resources, so a draft answers 404
on the first route and a posted invoice 404 on the second (as does a cancelled draft,
and another tenant's invoice on both). ``showTrackedItems`` is accepted and has no
effect: billcycle has no tracked items. The PDF is billcycle's invoice document
(billcycle.documents), cached by version.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from billcycle.context import ServiceContext
from billcycle.documents import service as documents
from billcycle.errors import NotFound
from billcycle.fusebill.deps import Ctx
from billcycle.fusebill.query import parse_id
from billcycle.invoicing import listing_service
from billcycle.invoicing import service as invoices
from billcycle.invoicing.statuses import InvoiceStatus

router = APIRouter(tags=["Invoices"])

_PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The invoice as PDF"}
}
ShowTrackedItems = Annotated[
    bool, Query(alias="showTrackedItems", description="Accepted; billcycle has no tracked items")
]


def _pdf(ctx: ServiceContext, invoice_id: int) -> Response:
    document = documents.invoice_pdf(ctx, invoice_id)
    return Response(
        content=document.content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{document.file_name}"'},
    )


@router.get(
    "/v1/invoices/pdf/{invoice_id}",
    summary="Read an invoice as PDF",
    response_class=Response,
    responses=_PDF,
)
def get_invoice_pdf(
    invoice_id: str, ctx: Ctx, show_tracked_items: ShowTrackedItems = False
) -> Response:
    """A posted invoice as the PDF its customer receives."""
    invoice = listing_service.get_posted_invoice(ctx, parse_id(invoice_id, "invoice"))
    return _pdf(ctx, invoice.id)


@router.get(
    "/v1/draftinvoices/pdf/{invoice_id}",
    summary="Read a draft invoice as PDF",
    response_class=Response,
    responses=_PDF,
)
def get_draft_invoice_pdf(
    invoice_id: str, ctx: Ctx, show_tracked_items: ShowTrackedItems = False
) -> Response:
    """A draft invoice as PDF (marked DRAFT)."""
    draft_id = parse_id(invoice_id, "invoice")
    try:
        invoice = invoices.get_invoice(ctx, draft_id)
    except NotFound:
        invoice = None
    if invoice is None or invoice.status != InvoiceStatus.DRAFT:
        raise NotFound(f"Draft invoice {draft_id} not found.", resource="invoice")
    return _pdf(ctx, invoice.id)
