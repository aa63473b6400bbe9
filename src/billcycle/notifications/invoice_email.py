"""The email that carries a posted invoice to its bill-to contact.

Composing is pure: it takes plain values (no session, no ORM objects) and the instant to
put in the Date header, so the same invoice always renders the same body. Templates get
strings already formatted for the locale (babel), which keeps money formatting and
date formatting out of the templates; the HTML template autoescapes, so a customer or
charge name such as ``<b>`` shows as text.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from billcycle.money import from_minor
from billcycle.notifications.mailer import INVOICE_HEADER

__all__ = [
    "DEFAULT_LOCALE",
    "DEFAULT_SENDER",
    "InvoiceDocument",
    "InvoiceLine",
    "Recipient",
    "compose_invoice_email",
]

DEFAULT_SENDER = "billing@localhost"
DEFAULT_LOCALE = "en_US"
_ONE_DAY = timedelta(days=1)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    charge_name: str
    service_start: date
    # Exclusive, as stored: the customer sees the last day of service.
    service_end: date
    quantity: Decimal
    amount_minor: int
    is_credit: bool = False

    @property
    def last_service_day(self) -> date:
        return max(self.service_start, self.service_end - _ONE_DAY)


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    """What the email shows of one invoice; amounts in minor units of ``currency``."""

    tenant_name: str
    account_number: str
    account_name: str
    invoice_number: str
    invoice_date: date
    due_date: date
    currency: str
    amount_minor: int
    tax_amount_minor: int
    balance_minor: int
    lines: Sequence[InvoiceLine]


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    name: str | None = None


def compose_invoice_email(
    document: InvoiceDocument,
    recipient: Recipient,
    *,
    sent_at: datetime,
    sender: str = DEFAULT_SENDER,
    locale: str = DEFAULT_LOCALE,
) -> EmailMessage:
    """A multipart/alternative message (plain text, then HTML) for ``document``.

    Raises ValueError when the recipient or sender cannot be written as an address
    header, or the locale is unknown.
    """
    if sent_at.tzinfo is None:
        raise ValueError("sent_at must be timezone-aware")
    context = _view(document, _locale(locale))
    message = EmailMessage()
    try:
        message["From"] = _one_line(sender)
        message["To"] = Address(
            display_name=_one_line(recipient.name or ""), addr_spec=recipient.address.strip()
        )
    except (HeaderParseError, IndexError, ValueError) as exc:
        raise ValueError(f"Invalid email address {recipient.address!r}: {exc}") from exc
    message["Subject"] = (
        f"Invoice {_one_line(document.invoice_number)} from {_one_line(document.tenant_name)}"
    )
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = f"<{uuid.uuid4().hex}@{_domain(sender)}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    message[INVOICE_HEADER] = _one_line(document.invoice_number)
    env = _environment()
    # Quoted-printable keeps the bodies readable in a raw message or outbox file.
    text = env.get_template("invoice.txt.j2").render(context)
    html = env.get_template("invoice.html.j2").render(context)
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message


def _view(document: InvoiceDocument, locale: Locale) -> dict[str, Any]:
    currency = document.currency

    def money(minor: int) -> str:
        return str(format_currency(from_minor(minor, currency), currency, locale=locale))

    def day(value: date) -> str:
        return str(format_date(value, format="medium", locale=locale))

    lines = []
    for line in document.lines:
        first, last = line.service_start, line.last_service_day
        lines.append(
            {
                "charge_name": line.charge_name,
                "period": day(first) if first == last else f"{day(first)} \N{EN DASH} {day(last)}",
                "quantity": str(
                    format_decimal(line.quantity, locale=locale, decimal_quantization=False)
                ),
                "amount": money(line.amount_minor),
                "is_credit": line.is_credit,
            }
        )
    return {
        "tenant_name": document.tenant_name,
        "account_number": document.account_number,
        "account_name": document.account_name,
        "invoice_number": document.invoice_number,
        "invoice_date": day(document.invoice_date),
        "due_date": day(document.due_date),
        "lines": lines,
        "tax": money(document.tax_amount_minor) if document.tax_amount_minor else None,
        "total": money(document.amount_minor),
        "balance": money(document.balance_minor),
    }


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("billcycle.notifications", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@cache
def _locale(name: str) -> Locale:
    try:
        return Locale.parse(name)
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError(f"Unknown locale {name!r}") from exc


def _one_line(text: str) -> str:
    """Header values may not contain line breaks (header injection)."""
    return _CONTROL.sub(" ", text).strip()


def _domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"
