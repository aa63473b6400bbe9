"""Payment terms: how long a customer has to pay an invoice.

Zuora names its default terms ``Due Upon Receipt`` and ``Net N``; billcycle supports the
same fixed set, :class:`PaymentTerm`. Invoicing imports :func:`due_date`, so a term always
means the same number of days wherever an invoice is created (API, bill run, Fusebill).
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from billcycle.errors import InvalidValue


class PaymentTerm(StrEnum):
    """The terms an account can have, as stored and shown (iteration order is the order
    error messages list them in)."""

    DUE_UPON_RECEIPT = "Due Upon Receipt"
    NET_15 = "Net 15"
    NET_30 = "Net 30"
    NET_45 = "Net 45"
    NET_60 = "Net 60"
    NET_90 = "Net 90"

    @property
    def days(self) -> int:
        """Days after the invoice date the invoice falls due."""
        return 0 if self is PaymentTerm.DUE_UPON_RECEIPT else int(self.value.removeprefix("Net "))


DEFAULT_PAYMENT_TERM = PaymentTerm.DUE_UPON_RECEIPT

_BY_FOLDED_NAME = {term.value.casefold(): term for term in PaymentTerm}


def normalize_payment_term(value: str) -> PaymentTerm:
    """The canonical spelling of a known term; clients are not held to its capitalisation."""
    canonical = _BY_FOLDED_NAME.get(" ".join(value.split()).casefold())
    if canonical is None:
        known = ", ".join(PaymentTerm)
        raise InvalidValue(
            f"Invalid value for paymentTerm: '{value}' is not a payment term ({known}).",
            resource="account",
            field="paymentTerm",
        )
    return canonical


def due_date(invoice_date: date, payment_term: str) -> date:
    """The date an invoice dated ``invoice_date`` falls due under ``payment_term``."""
    return invoice_date + timedelta(days=normalize_payment_term(payment_term).days)
