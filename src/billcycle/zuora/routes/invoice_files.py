"""Zuora routes: ``GET /v1/invoices/{invoiceKey}/files`` (an invoice's PDF versions) and
``GET /v1/files/{file-id}`` (a file's bytes).

An invoice's PDF is rendered on demand: listing its files renders the current version
when the invoice changed since the latest one (billcycle.documents). As in Zuora, an
invoice file's ``id`` names the file object; ``pdfFileUrl`` carries the file handle that
``GET /v1/files/{file-id}`` takes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from billcycle.documents import service as documents
from billcycle.errors import NotFound
from billcycle.ids import parse_zuora_id
from billcycle.invoicing import service as invoices
from billcycle.zuora.deps import Ctx
from billcycle.zuora.paging import Page, PageNumber, next_page_url
from billcycle.zuora.schemas import invoice_files as schemas

router = APIRouter(tags=["Invoices"])

# zuora-sdk caps pageSize at 40 for invoice files.
MAX_FILES_PAGE_SIZE = 40


def file_page(
    page: PageNumber = 1,
    page_size: Annotated[
        int, Query(alias="pageSize", ge=1, le=MAX_FILES_PAGE_SIZE, description="Files per page")
    ] = 20,
) -> Page:
    return Page(number=page, size=page_size)


@router.get(
    "/v1/invoices/{invoice_key}/files",
    response_model=schemas.InvoiceFilesResponse,
    response_model_exclude_none=True,
    summary="List all files of an invoice",
)
def get_invoice_files(
    invoice_key: str, request: Request, ctx: Ctx, page: Annotated[Page, Depends(file_page)]
) -> schemas.InvoiceFilesResponse:
    """The invoice's PDF files, newest version first (the current one is rendered first
    if the invoice changed since the latest)."""
    invoice = invoices.find_invoice(ctx, invoice_id=parse_zuora_id(invoice_key), number=invoice_key)
    versions = documents.invoice_versions(ctx, invoice.id, offset=page.offset, limit=page.size + 1)
    return schemas.InvoiceFilesResponse(
        invoice_files=[schemas.invoice_file(v) for v in versions[: page.size]],
        next_page=next_page_url(request, page, len(versions) > page.size),
    )


@router.get(
    "/v1/files/{file_id}",
    summary="Retrieve a file",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The file's bytes"}},
)
def get_file(file_id: str, ctx: Ctx) -> Response:
    """A file's bytes (an invoice PDF), by the handle in an invoice file's pdfFileUrl."""
    parsed = parse_zuora_id(file_id)
    if parsed is None:
        raise NotFound(f"File {file_id} not found.", resource="file")
    stored = documents.get_file(ctx, parsed)
    return Response(
        content=stored.content,
        media_type=stored.content_type,
        headers={"Content-Disposition": f'inline; filename="{stored.name}"'},
    )
