"""What the documents services take: plain values a dialect or the CLI parses into."""

from __future__ import annotations

from dataclasses import dataclass

from billcycle.unset import UNSET, Unset


@dataclass(frozen=True, slots=True)
class TemplateSettingsChanges:
    """A patch of a tenant's invoice template settings (UNSET: unchanged; None: cleared,
    back to the default)."""

    invoice_logo_url: str | Unset | None = UNSET
    invoice_seller_address: str | Unset | None = UNSET
    invoice_footer: str | Unset | None = UNSET
    invoice_payment_instructions: str | Unset | None = UNSET
    payment_terms_days: int | Unset | None = UNSET
    invoice_locale: str | Unset | None = UNSET
