"""Fusebill route: ``GET /v1/invoices/{id}``.

Only posted invoices exist here: Fusebill keeps draft invoices as a separate resource, so
a billcycle draft (or a cancelled draft) answers 404 on this route.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request

from billcycle.fusebill.deps import Ctx
from billcycle.fusebill.query import parse_id
from billcycle.fusebill.schemas.customers import resource_uri
from billcycle.fusebill.schemas.invoices import InvoiceResponse, invoice_response
from billcycle.invoicing import listing_service

router = APIRouter(tags=["Invoices"])


@router.get("/v1/invoices/{invoice_id}", response_model=InvoiceResponse, summary="Read an invoice")
def get_invoice(invoice_id: str, request: Request, ctx: Ctx) -> InvoiceResponse:
    """A posted invoice with what was paid, credited and written off, and what is owed."""
    row = listing_service.posted_invoice(ctx, parse_id(invoice_id, "invoice"))
    return invoice_response(row, resource_uri(request, "invoices", row.id))
