"""What a BulkPayment record is and what makes it valid: its stored form (a Create
Payment body as JSON, the ``data`` the job shows), and pure rules over what one chunk's
queries read about its customer and invoices.

The rules are the single payment's (``payments.activities.collect``): a positive amount
in the customer's currency's precision, recorded money (Cash, Check, DirectDeposit),
allocations to the customer's posted invoices within their balances and together within
the amount. Processing applies them again against the balances it holds locked, spending
them record by record, so two records of a job cannot over-pay one invoice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping
from decimal import Decimal
from typing import Any, NamedTuple

from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.money import from_minor, minor_unit_exponent
from billcycle.payments.activity_statuses import RECORDED_KINDS
from billcycle.payments.inputs import NewCollection

MAX_REFERENCE = 500

CUSTOMER_NOT_FOUND = "Customer not found."
NOT_POSITIVE = "The amount must be greater than zero."
BOTH_ALLOCATIONS = "Give paymentAllocations or autoAllocate, not both."
NEEDS_METHOD = "paymentMethodId is required for CreditCard and ACH payments."
NOT_CHARGED = (
    "CreditCard and ACH payments are charged through a gateway, which bulk jobs do not "
    "offer yet: record Cash, Check or DirectDeposit payments."
)
LONG_REFERENCE = f"The reference is longer than {MAX_REFERENCE} characters."


def too_precise(currency: str) -> str:
    places = minor_unit_exponent(currency)
    return f"The amount has more decimal places than {currency} allows ({places})."


# -- stored form ------------------------------------------------------------------------


# The stored form of a record (its ``data``): a Create Payment body with Fusebill's
# property names, amounts as JSON numbers or exact decimal strings; ``source`` defaults
# to Manual, ``autoAllocateOrder`` to OldestToNewest. The Fusebill dialect stores a body
# that is in this form as it came, and anything else through ``encode``.
STORED_KEYS = (
    "customerId",
    "amount",
    "paymentMethod",
    "paymentMethodId",
    "useDefaultPaymentMethod",
    "source",
    "reference",
    "paymentAllocations",
    "autoAllocate",
    "autoAllocateOrder",
)


def encode(payment: NewCollection) -> str:
    """The stored form of a payment, amounts as exact decimal strings."""
    body: dict[str, Any] = {
        "customerId": payment.account_id,
        "amount": str(payment.amount),
        "paymentMethod": payment.method_kind.value,
        "source": payment.source.value,
    }
    if payment.reference is not None:
        body["reference"] = payment.reference
    if payment.payment_method_id is not None:
        body["paymentMethodId"] = payment.payment_method_id
    if payment.use_default_payment_method:
        body["useDefaultPaymentMethod"] = True
    if payment.allocations:
        body["paymentAllocations"] = [
            {"invoiceId": a.invoice_id, "amount": str(a.amount)} for a in payment.allocations
        ]
    if payment.auto_allocate:
        body["autoAllocate"] = True
        body["autoAllocateOrder"] = payment.order.value
    return json.dumps(body, separators=(",", ":"))


# -- rules -------------------------------------------------------------------------------


# Customers and invoices are NamedTuples, not dataclasses: a million-record job makes
# two of each per record, and a tuple is built several times faster.
class Customer(NamedTuple):
    currency: str
    status: str


class Invoice(NamedTuple):
    """An invoice as a chunk read it. ``cell`` is ``[invoice id, balance]``, spent as
    records allocate; auto-allocation (``payments.allocation.spread``) spends the same
    cell, so named and automatic allocations in one chunk see one balance."""

    account_id: int
    status: str
    cell: list[int]

    @property
    def balance_minor(self) -> int:
        return self.cell[1]


_EXPONENTS: dict[str, int] = {}
_RECORDED = frozenset(kind.value for kind in RECORDED_KINDS)
# Amounts already converted, by (type, value, currency): a job's records repeat a few
# amounts (a price, a plan's fee), and a Decimal conversion costs more than the rest of
# a record's judgement. Bounded: cleared when it grows past ``_SEEN_AT_MOST``.
_SEEN: dict[tuple[type, object, str], int | None] = {}
_SEEN_AT_MOST = 100_000


def _minor(amount: str | float, currency: str) -> int | None:
    """A stored amount (an exact decimal string, or a JSON number: a float read through
    its shortest repr, so 9.99 is exactly 9.99) in minor units, or None when it has
    digits below the currency's minor unit."""
    key = (type(amount), amount, currency)
    try:
        return _SEEN[key]
    except KeyError:
        pass
    exponent = _EXPONENTS.get(currency)
    if exponent is None:
        exponent = _EXPONENTS[currency] = minor_unit_exponent(currency)
    scaled = Decimal(repr(amount) if type(amount) is float else amount).scaleb(exponent)
    minor = int(scaled) if scaled == scaled.to_integral_value() else None
    if len(_SEEN) >= _SEEN_AT_MOST:
        _SEEN.clear()
    _SEEN[key] = minor
    return minor


class Judged(NamedTuple):
    """A record that passes: its amount and allocations in minor units."""

    amount_minor: int
    currency: str
    allocations: tuple[tuple[int, int], ...]


def judge(
    body: Mapping[str, Any],
    customers: Mapping[int, Customer],
    invoices: MutableMapping[int, Invoice],
    *,
    spend: bool,
) -> Judged | str:
    """A stored record (``encode``'s JSON, parsed) in minor units, or why it fails. With
    ``spend``, the allocations are taken off ``invoices``' balances (processing: the next
    record sees what is left). Works on the parsed JSON, not a ``NewCollection``: a
    million-record job judges every record twice."""
    account_id = body["customerId"]
    found = customers.get(account_id)
    if found is None:
        return CUSTOMER_NOT_FOUND
    currency = found.currency
    amount = _minor(body["amount"], currency)
    if amount is None:
        return too_precise(currency)
    if amount <= 0:
        return NOT_POSITIVE
    if body["paymentMethod"] not in _RECORDED:
        if body.get("paymentMethodId") is None and not body.get("useDefaultPaymentMethod"):
            return NEEDS_METHOD
        return NOT_CHARGED
    reference = body.get("reference")
    if reference is not None and len(reference) > MAX_REFERENCE:
        return LONG_REFERENCE
    allocations = body.get("paymentAllocations")
    if not allocations:
        return Judged(amount, currency, ())
    if body.get("autoAllocate"):
        return BOTH_ALLOCATIONS
    pieces: list[tuple[int, int]] = []
    wanted: dict[int, int] = {}
    allocated = 0
    for allocation in allocations:
        invoice_id = allocation["invoiceId"]
        invoice = invoices.get(invoice_id)
        if invoice is None or invoice.account_id != account_id:
            return f"Invoice {invoice_id} not found for this customer."
        if invoice.status != InvoiceStatus.POSTED:
            return f"Invoice {invoice_id} is {invoice.status}: only posted invoices take payments."
        minor = _minor(allocation["amount"], currency)
        if minor is None:
            return f"The allocation to invoice {invoice_id}: {too_precise(currency)[4:]}"
        if minor <= 0:
            return f"The allocation to invoice {invoice_id} must be greater than zero."
        total = wanted[invoice_id] = wanted.get(invoice_id, 0) + minor
        if total > invoice.cell[1]:
            shown = from_minor(total, currency)
            return (
                f"The allocation to invoice {invoice_id} ({shown}) "
                f"is more than its outstanding balance "
                f"({from_minor(max(invoice.cell[1], 0), currency)})."
            )
        allocated += minor
        pieces.append((invoice_id, minor))
    if allocated > amount:
        return (
            f"The allocations ({from_minor(allocated, currency)}) are more than the payment "
            f"({from_minor(amount, currency)})."
        )
    if spend:
        for invoice_id, minor in pieces:
            invoices[invoice_id].cell[1] -= minor
    return Judged(amount, currency, tuple(pieces))
