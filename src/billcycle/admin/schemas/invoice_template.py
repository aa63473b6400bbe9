"""A tenant's invoice template: its settings and its own Jinja2 template."""

from __future__ import annotations

from pydantic import BaseModel, Field, StrictInt

from billcycle.admin.schemas.common import Input
from billcycle.documents.service import TemplateSettings


class InvoiceTemplateOut(BaseModel):
    invoice_logo_url: str | None = Field(
        description="A data: URI, or an absolute path of an image file on the server "
        "(inlined when rendering; invoices fetch nothing from other hosts)"
    )
    invoice_seller_address: str | None = Field(description="The seller block, one line each")
    invoice_footer: str | None = Field(description="Printed at the foot of every invoice")
    invoice_payment_instructions: str | None = Field(
        description="How to pay (null: 'Please pay {balance} by {due date}, quoting ...')"
    )
    payment_terms_days: int | None = Field(
        description="Terms printed on invoices, Net N (0: due upon receipt; null: each "
        "account's payment term). Due dates follow the account's payment term."
    )
    invoice_locale: str | None = Field(description="CLDR locale of amounts and dates (null: en_US)")
    custom_template: bool = Field(description="The tenant uploaded its own template")
    invoice_template: str | None = Field(description="The tenant's template (null: the default)")

    @classmethod
    def of(cls, settings: TemplateSettings) -> InvoiceTemplateOut:
        return cls(
            invoice_logo_url=settings.invoice_logo_url,
            invoice_seller_address=settings.invoice_seller_address,
            invoice_footer=settings.invoice_footer,
            invoice_payment_instructions=settings.invoice_payment_instructions,
            payment_terms_days=settings.payment_terms_days,
            invoice_locale=settings.invoice_locale,
            custom_template=settings.custom_template,
            invoice_template=settings.invoice_template,
        )


class InvoiceTemplateUpdate(Input):
    """Only the fields sent change; null clears a field (back to the default)."""

    invoice_logo_url: str | None = None
    invoice_seller_address: str | None = None
    invoice_footer: str | None = None
    invoice_payment_instructions: str | None = None
    payment_terms_days: StrictInt | None = None
    invoice_locale: str | None = None


class TemplateSourceIn(Input):
    template: str = Field(
        description="A Jinja2 HTML template, checked by rendering a sample invoice in a "
        "sandbox before it is kept (docs/documents.md lists its variables)"
    )


class TemplateSourceOut(BaseModel):
    template: str
