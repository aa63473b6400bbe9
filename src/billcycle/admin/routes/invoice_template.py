"""``/v1/tenants/{tenant_id}/invoice-template``: a tenant's invoice template settings
(logo, seller address, footer, payment instructions and terms, locale) and its own
Jinja2 template; ``/v1/tenants/{tenant_id}/invoices/{invoice_id}/html|pdf``: an invoice
as its document.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from billcycle.admin.deps import AdminContext, Ctx, runtime_of
from billcycle.admin.schemas.common import PROBLEM_RESPONSES
from billcycle.admin.schemas.invoice_template import (
    InvoiceTemplateOut,
    InvoiceTemplateUpdate,
    TemplateSourceIn,
    TemplateSourceOut,
)
from billcycle.context import ServiceContext
from billcycle.documents import service as documents
from billcycle.documents.inputs import TemplateSettingsChanges
from billcycle.documents.rendering import default_template_source
from billcycle.tenancy import management

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}", tags=["Invoice documents"], responses=PROBLEM_RESPONSES
)

TenantId = Path(ge=1, le=2**63 - 1, description="The tenant's id")
InvoiceId = Path(ge=1, le=2**63 - 1, description="The invoice's id")


@contextmanager
def _tenant(ctx: AdminContext, request: Request, tenant_id: int) -> Iterator[ServiceContext]:
    management.get_tenant(ctx.session, tenant_id)  # an unknown tenant is a 404
    yield runtime_of(request).context(ctx.session, tenant_id)


@router.get(
    "/invoice-template",
    response_model=InvoiceTemplateOut,
    summary="Get the invoice template settings",
)
def get_settings(ctx: Ctx, request: Request, tenant_id: int = TenantId) -> InvoiceTemplateOut:
    """The tenant's settings (null fields: the defaults) and its own template, if any."""
    with _tenant(ctx, request, tenant_id) as service:
        return InvoiceTemplateOut.of(documents.template_settings(service))


@router.put(
    "/invoice-template",
    response_model=InvoiceTemplateOut,
    summary="Change the invoice template settings",
)
def put_settings(
    body: InvoiceTemplateUpdate, ctx: Ctx, request: Request, tenant_id: int = TenantId
) -> InvoiceTemplateOut:
    """Change the fields sent; every value is checked before anything changes."""
    sent: dict[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
    changes = TemplateSettingsChanges(**sent)
    with _tenant(ctx, request, tenant_id) as service:
        return InvoiceTemplateOut.of(documents.update_template_settings(service, changes))


@router.get(
    "/invoice-template/source",
    response_model=TemplateSourceOut,
    summary="Get the invoice template in use",
)
def get_source(ctx: Ctx, request: Request, tenant_id: int = TenantId) -> TemplateSourceOut:
    """The tenant's own template, else the packaged default (a starting point)."""
    with _tenant(ctx, request, tenant_id) as service:
        own = documents.template_settings(service).invoice_template
    return TemplateSourceOut(template=own if own is not None else default_template_source())


@router.put(
    "/invoice-template/source",
    response_model=InvoiceTemplateOut,
    summary="Upload the tenant's own invoice template",
)
def put_source(
    body: TemplateSourceIn, ctx: Ctx, request: Request, tenant_id: int = TenantId
) -> InvoiceTemplateOut:
    """Checked by rendering a sample invoice in Jinja2's sandbox; a template that does
    not compile or render is refused (422, with the reason and line) and nothing
    changes."""
    with _tenant(ctx, request, tenant_id) as service:
        return InvoiceTemplateOut.of(documents.set_template(service, body.template))


@router.delete(
    "/invoice-template/source",
    response_model=InvoiceTemplateOut,
    summary="Go back to the default invoice template",
)
def delete_source(ctx: Ctx, request: Request, tenant_id: int = TenantId) -> InvoiceTemplateOut:
    with _tenant(ctx, request, tenant_id) as service:
        return InvoiceTemplateOut.of(documents.reset_template(service))


@router.get(
    "/invoices/{invoice_id}/html",
    response_class=HTMLResponse,
    summary="An invoice as HTML",
)
def invoice_html(
    ctx: Ctx, request: Request, tenant_id: int = TenantId, invoice_id: int = InvoiceId
) -> HTMLResponse:
    """The invoice document as the tenant's template renders it."""
    with _tenant(ctx, request, tenant_id) as service:
        return HTMLResponse(documents.render_invoice_html(service, invoice_id))


@router.get(
    "/invoices/{invoice_id}/pdf",
    response_class=Response,
    summary="An invoice as PDF",
    responses={200: {"content": {"application/pdf": {}}, "description": "The invoice PDF"}},
)
def invoice_pdf(
    ctx: Ctx, request: Request, tenant_id: int = TenantId, invoice_id: int = InvoiceId
) -> Response:
    """The invoice's current PDF (rendered when the invoice changed, else the stored
    version)."""
    with _tenant(ctx, request, tenant_id) as service:
        document = documents.invoice_pdf(service, invoice_id)
    return Response(
        content=document.content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{document.file_name}"'},
    )
