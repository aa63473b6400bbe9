"""What a BulkPayment record is and what makes it valid: its stored form (a Create
Payment body as JSON, the ``data`` the job shows), and pure rules over what one chunk's
queries read about its customer and invoices.

The rules are the single payment's (``payments.activities.collect``, and
``payments.card_collection`` for CreditCard and ACH records, which name a payment method
of the customer, or its default, that can be charged): a positive amount in the
customer's currency's precision, allocations to the customer's posted invoices within
their balances and together within the amount. Processing applies them again against
the balances it holds locked, spending them record by record, so two records of a job
cannot over-pay one invoice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping
from decimal import Decimal
from typing import Any, NamedTuple

from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.money import from_minor, minor_unit_exponent
from billcycle.paymentmethods.statuses import PaymentMethodStatus
from billcycle.payments.activity_statuses import RECORDED_KINDS
from billcycle.payments.inputs import NewCollection

MAX_REFERENCE = 500

CUSTOMER_NOT_FOUND = "Customer not found."
NOT_POSITIVE = "The amount must be greater than zero."
BOTH_ALLOCATIONS = "Give paymentAllocations or autoAllocate, not both."
NEEDS_METHOD = "paymentMethodId is required for CreditCard and ACH payments."
NO_DEFAULT_METHOD = "The customer has no default payment method."
METHOD_NOT_FOUND = "Payment method {method} not found for this customer."
METHOD_NOT_CHARGEABLE = "Payment method {method} is {status}: it cannot be charged."
METHOD_NO_TOKEN = "Payment method {method} has no gateway token: it cannot be charged."
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
    """A record that passes: its amount and allocations in minor units (and, for a
    CreditCard or ACH record, the payment method it charges)."""

    amount_minor: int
    currency: str
    allocations: tuple[tuple[int, int], ...]
    method_id: int | None = None


class Method(NamedTuple):
    """A payment method as a chunk reads it (for CreditCard and ACH records)."""

    account_id: int | None
    status: str
    has_token: bool


class Methods(NamedTuple):
    """The payment methods a chunk's CreditCard and ACH records name, and the default
    method of each of their customers (account id -> method id)."""

    by_id: Mapping[int, Method]
    defaults: Mapping[int, int]


def is_charged(body: Mapping[str, Any]) -> bool:
    """A CreditCard or ACH record: charged through a gateway, not recorded."""
    return body["paymentMethod"] not in _RECORDED


def _method(body: Mapping[str, Any], account_id: int, methods: Methods | None) -> int | str:
    """The method a charged record charges, or why it cannot."""
    wanted = body.get("paymentMethodId")
    if wanted is None and not body.get("useDefaultPaymentMethod"):
        return NEEDS_METHOD
    if methods is None:
        return wanted if wanted is not None else 0
    if wanted is None:
        default = methods.defaults.get(account_id)
        if default is None:
            return NO_DEFAULT_METHOD
        wanted = default
    found = methods.by_id.get(wanted)
    if found is None or found.account_id != account_id:
        return METHOD_NOT_FOUND.format(method=wanted)
    if found.status != PaymentMethodStatus.ACTIVE:
        return METHOD_NOT_CHARGEABLE.format(method=wanted, status=found.status)
    if not found.has_token:
        return METHOD_NO_TOKEN.format(method=wanted)
    return int(wanted)


def judge(
    body: Mapping[str, Any],
    customers: Mapping[int, Customer],
    invoices: MutableMapping[int, Invoice],
    *,
    spend: bool,
    methods: Methods | None = None,
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
    method_id: int | None = None
    if body["paymentMethod"] not in _RECORDED:
        chosen = _method(body, account_id, methods)
        if isinstance(chosen, str):
            return chosen
        method_id = chosen
    reference = body.get("reference")
    if reference is not None and len(reference) > MAX_REFERENCE:
        return LONG_REFERENCE
    allocations = body.get("paymentAllocations")
    if not allocations:
        return Judged(amount, currency, (), method_id)
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
    return Judged(amount, currency, tuple(pieces), method_id)
