"""Tenant settings: the invoice template fields (logo, seller address, footer, payment
instructions, payment terms) that invoice documents show (``billcycle.documents``), which
admins change and everyone else reads."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from billcycle.console.pages.common import CurrentViewer, _record, form_text, read, units
from billcycle.console.render import page, redirect
from billcycle.console.session import checked_form, runtime_of
from billcycle.documents import service as documents
from billcycle.documents.inputs import TemplateSettingsChanges
from billcycle.errors import DomainError, InvalidValue
from billcycle.ids import is_ascii_digits

router = APIRouter(include_in_schema=False)
FIELDS = (
    "invoice_logo_url",
    "invoice_seller_address",
    "invoice_footer",
    "invoice_payment_instructions",
    "payment_terms_days",
)


@router.get("/settings")
def settings_page(request: Request, viewer: CurrentViewer) -> Response:
    current = read(request, viewer, documents.template_settings)
    values = {k: "" if (v := getattr(current, k)) is None else str(v) for k in FIELDS}
    return page(request, "settings.html.j2", title="Settings", values=values, errors={})


@router.post("/settings")
async def save_settings(request: Request, viewer: CurrentViewer) -> Response:
    form = await checked_form(request, viewer, admin=True)
    values = {name: form_text(form, name) for name in FIELDS}
    try:
        days_text = values["payment_terms_days"]
        if days_text and not is_ascii_digits(days_text):
            raise InvalidValue(
                "Payment terms are a whole number of days.", field="payment_terms_days"
            )
        wanted = TemplateSettingsChanges(
            invoice_logo_url=values["invoice_logo_url"] or None,
            invoice_seller_address=values["invoice_seller_address"] or None,
            invoice_footer=values["invoice_footer"] or None,
            invoice_payment_instructions=values["invoice_payment_instructions"] or None,
            payment_terms_days=int(days_text) if days_text else None,
        )
        await units(request, viewer).write(
            lambda ctx: documents.update_template_settings(ctx, wanted)
        )
    except DomainError as exc:
        return page(
            request,
            "settings.html.j2",
            code=400,
            title="Settings",
            values=values,
            errors={exc.field or "form": str(exc)},
        )
    _record(
        request,
        viewer,
        runtime_of(request).machine_clock.now(),
        "update",
        "tenant_settings",
        viewer.tenant_id,
        "ok",
    )
    return redirect(request, "/settings", notice="The settings were saved.")
