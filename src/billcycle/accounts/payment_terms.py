"""Payment terms: how long a customer has to pay an invoice.

Zuora names its default terms ``Due Upon Receipt`` and ``Net N``; billcycle supports the
same fixed set. Invoicing imports :func:`due_date`, so a term always means the same
number of days wherever an invoice is created (API, bill run, Fusebill).
"""

from __future__ import annotations

from datetime import date, timedelta
from types import MappingProxyType

from billcycle.errors import InvalidValue

DUE_UPON_RECEIPT = "Due Upon Receipt"
DEFAULT_PAYMENT_TERM = DUE_UPON_RECEIPT

# Canonical name -> days after the invoice date.
PAYMENT_TERM_DAYS: MappingProxyType[str, int] = MappingProxyType(
    {
        DUE_UPON_RECEIPT: 0,
        "Net 15": 15,
        "Net 30": 30,
        "Net 45": 45,
        "Net 60": 60,
        "Net 90": 90,
    }
)

_BY_FOLDED_NAME = {name.casefold(): name for name in PAYMENT_TERM_DAYS}


def normalize_payment_term(value: str) -> str:
    """The canonical spelling of a known term; clients are not held to its capitalisation."""
    canonical = _BY_FOLDED_NAME.get(" ".join(value.split()).casefold())
    if canonical is None:
        known = ", ".join(PAYMENT_TERM_DAYS)
        raise InvalidValue(
            f"Invalid value for paymentTerm: '{value}' is not a payment term ({known}).",
            resource="account",
            field="paymentTerm",
        )
    return canonical


def due_date(invoice_date: date, payment_term: str) -> date:
    """The date an invoice dated ``invoice_date`` falls due under ``payment_term``."""
    return invoice_date + timedelta(days=PAYMENT_TERM_DAYS[normalize_payment_term(payment_term)])
