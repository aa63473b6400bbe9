"""A tenant's invoice template fields: logo URL, seller address, footer text and payment
terms in days. ``invoice_settings(ctx)`` is what invoice documents read."""

from __future__ import annotations

from dataclasses import dataclass

from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue
from billcycle.tenancy import invoice_settings_repository as repo
from billcycle.tenancy.invoice_settings_models import TenantInvoiceSettings

MAX_LOGO_URL = 1000
MAX_TEXT = 2000
MAX_TERMS_DAYS = 365


@dataclass(frozen=True)
class InvoiceSettings:
    invoice_logo_url: str | None = None
    invoice_seller_address: str | None = None
    invoice_footer: str | None = None
    payment_terms_days: int | None = None


def invoice_settings(ctx: ServiceContext) -> InvoiceSettings:
    row = repo.get_settings(ctx.session, ctx.tenant_id)
    if row is None:
        return InvoiceSettings()
    return InvoiceSettings(
        row.invoice_logo_url, row.invoice_seller_address, row.invoice_footer, row.payment_terms_days
    )


def _text(value: str | None, field: str, limit: int) -> str | None:
    value = (value or "").strip()
    if len(value) > limit:
        raise InvalidValue(f"At most {limit} characters.", field=field)
    return value or None


def check_settings(values: InvoiceSettings) -> InvoiceSettings:
    logo = _text(values.invoice_logo_url, "invoice_logo_url", MAX_LOGO_URL)
    if logo is not None and not logo.startswith(("https://", "http://", "data:image/")):
        raise InvalidValue(
            "A logo is an http(s) URL or a data:image/ URL.", field="invoice_logo_url"
        )
    days = values.payment_terms_days
    if days is not None and not 0 <= days <= MAX_TERMS_DAYS:
        raise InvalidValue(
            f"Payment terms are 0 to {MAX_TERMS_DAYS} days.", field="payment_terms_days"
        )
    return InvoiceSettings(
        logo,
        _text(values.invoice_seller_address, "invoice_seller_address", MAX_TEXT),
        _text(values.invoice_footer, "invoice_footer", MAX_TEXT),
        days,
    )


def update_invoice_settings(ctx: ServiceContext, values: InvoiceSettings) -> InvoiceSettings:
    """Checks and stores every field (an empty text clears it)."""
    values = check_settings(values)
    row = repo.get_settings(ctx.session, ctx.tenant_id)
    if row is None:
        row = repo.add_settings(
            ctx.session, TenantInvoiceSettings(tenant_id=ctx.tenant_id, updated_at=ctx.clock.now())
        )
    row.invoice_logo_url = values.invoice_logo_url
    row.invoice_seller_address = values.invoice_seller_address
    row.invoice_footer = values.invoice_footer
    row.payment_terms_days = values.payment_terms_days
    row.updated_at = ctx.clock.now()
    ctx.session.flush()
    return values
