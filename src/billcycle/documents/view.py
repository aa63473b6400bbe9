"""What an invoice template is given: plain values and strings already formatted for the
locale (Babel), so templates, the default and the tenants' own, hold no money or date
arithmetic. Pure: no session, no clock.

The names below are the template's vocabulary (docs/documents.md lists them):
``seller``, ``bill_to``, ``invoice``, ``items``, ``totals``, ``payment_instructions``,
``footer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal

from billcycle.accounts.payment_terms import normalize_payment_term
from billcycle.errors import InvalidValue
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.money import from_minor

DEFAULT_LOCALE = "en_US"
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Line:
    charge_name: str
    service_start: date
    service_end: date  # exclusive, as stored
    quantity: Decimal
    unit_price: Decimal
    amount_minor: int
    is_credit: bool


@dataclass(frozen=True, slots=True)
class Party:
    name: str
    lines: Sequence[str]


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """Everything one invoice document shows, as the database holds it."""

    seller_name: str
    seller_address: str | None
    logo_src: str | None  # a data: URI, inlined
    account_number: str
    account_name: str
    contact_name: str | None
    contact_email: str | None
    contact_address: Sequence[str]
    account_payment_term: str
    invoice_number: str
    status: str
    invoice_date: date
    due_date: date
    posted_at: datetime | None
    currency: str
    amount_minor: int
    tax_amount_minor: int
    balance_minor: int
    paid_minor: int
    credited_minor: int
    comments: str | None
    lines: Sequence[Line]
    payment_terms_days: int | None
    payment_instructions: str | None
    footer: str | None
    time_zone: ZoneInfo


def locale_named(name: str | None) -> Locale:
    try:
        return _locale(name or DEFAULT_LOCALE)
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise InvalidValue(
            f"invoice_locale: {name!r} is not a known locale (e.g. en_US, de_DE, fr_CA).",
            resource="invoice_template",
            field="invoice_locale",
        ) from exc


@cache
def _locale(name: str) -> Locale:
    return Locale.parse(name)


def terms_text(days: int | None, account_term: str) -> str:
    """``Net 30`` / ``Due upon receipt``: the tenant's printed terms, else the account's."""
    if days is None:
        try:
            days = normalize_payment_term(account_term).days
        except InvalidValue:
            return account_term
    return "Due upon receipt" if days == 0 else f"Net {days}"


def context(facts: DocumentFacts, locale: Locale) -> dict[str, Any]:
    """The template's variables for ``facts``."""
    currency = facts.currency

    def money(minor: int) -> str:
        return str(format_currency(from_minor(minor, currency), currency, locale=locale))

    def day(value: date) -> str:
        return str(format_date(value, format="medium", locale=locale))

    def number(value: Decimal) -> str:
        return str(format_decimal(value, locale=locale, decimal_quantization=False))

    items = []
    for line in facts.lines:
        first = line.service_start
        last = max(first, line.service_end - _ONE_DAY)
        items.append(
            {
                "description": line.charge_name,
                "service_start": day(first),
                "service_end": day(last),
                "period": day(first) if first == last else f"{day(first)} \N{EN DASH} {day(last)}",
                "quantity": number(line.quantity),
                "unit_price": str(format_currency(line.unit_price, currency, locale=locale)),
                "amount": money(line.amount_minor),
                "is_credit": line.is_credit,
            }
        )
    posted = None
    if facts.posted_at is not None:
        posted = str(
            format_datetime(facts.posted_at, format="medium", tzinfo=facts.time_zone, locale=locale)
        )
    terms = terms_text(facts.payment_terms_days, facts.account_payment_term)
    balance = money(facts.balance_minor)
    instructions = facts.payment_instructions
    if instructions is None:
        instructions = (
            f"Please pay {balance} by {day(facts.due_date)}, quoting invoice number "
            f"{facts.invoice_number} and account {facts.account_number}."
        )
    return {
        "seller": {
            "name": facts.seller_name,
            "address_lines": _lines(facts.seller_address),
            "logo_src": facts.logo_src,
        },
        "bill_to": {
            "name": facts.account_name,
            "account_number": facts.account_number,
            "contact_name": facts.contact_name,
            "email": facts.contact_email,
            "address_lines": list(facts.contact_address),
        },
        "invoice": {
            "number": facts.invoice_number,
            "status": facts.status,
            "is_draft": facts.status == InvoiceStatus.DRAFT,
            "is_canceled": facts.status == InvoiceStatus.CANCELED,
            "date": day(facts.invoice_date),
            "due_date": day(facts.due_date),
            "posted_at": posted,
            "time_zone": facts.time_zone.key,
            "currency": currency,
            "terms": terms,
            "comments": facts.comments,
        },
        "items": items,
        "totals": {
            "subtotal": money(facts.amount_minor - facts.tax_amount_minor),
            "tax": money(facts.tax_amount_minor),
            "has_tax": facts.tax_amount_minor != 0,
            "total": money(facts.amount_minor),
            "amount_paid": money(facts.paid_minor),
            "credits": money(facts.credited_minor),
            "has_credits": facts.credited_minor != 0,
            "balance_due": balance,
        },
        "payment_instructions_lines": _lines(instructions),
        "footer_lines": _lines(facts.footer),
    }


def _lines(text: str | None) -> list[str]:
    if not text:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def sample_facts() -> DocumentFacts:
    """A made-up invoice that every template must render (the upload check)."""
    return DocumentFacts(
        seller_name="Example Seller Inc.",
        seller_address="1 Example Street\nSpringfield",
        logo_src=None,
        account_number="A00000001",
        account_name="Example Customer",
        contact_name="Jane Doe",
        contact_email="jane@example.com",
        contact_address=("2 Sample Road", "Shelbyville 12345", "US"),
        account_payment_term="Net 30",
        invoice_number="INV00000001",
        status="Posted",
        invoice_date=date(2026, 1, 1),
        due_date=date(2026, 1, 31),
        posted_at=datetime(2026, 1, 1, 12, 0, tzinfo=ZoneInfo("UTC")),
        currency="USD",
        amount_minor=3300,
        tax_amount_minor=300,
        balance_minor=1300,
        paid_minor=2000,
        credited_minor=0,
        comments="Thank you for your business.",
        lines=(
            Line(
                "Monthly fee",
                date(2026, 1, 1),
                date(2026, 2, 1),
                Decimal(1),
                Decimal(30),
                3000,
                False,
            ),
        ),
        payment_terms_days=30,
        payment_instructions=None,
        footer="Example Seller Inc. - registered in Springfield",
        time_zone=ZoneInfo("UTC"),
    )
