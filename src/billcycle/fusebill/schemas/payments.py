"""Fusebill wire shapes for payments, refunds and payment activities.

Requests are read from the raw body by hand (property names matched case-insensitively,
unknown ones ignored, as Fusebill's deserializer does): the same reader takes a single
``POST /v1/payments`` body and each of a million BulkPayment records, where a pydantic
model per record would cost seconds. JSON numbers are read as exact decimals.

Create payment: ``customerId``, ``amount``, ``paymentMethod`` (``CreditCard Cash Check
DirectDeposit ACH``), ``paymentMethodId`` (CreditCard and ACH), ``useDefaultPaymentMethod``,
``source`` (``Manual Automatic SelfServicePortal Import``), ``reference`` (<= 500),
``paymentAllocations[{invoiceId, amount}]``, ``autoAllocate``, ``autoAllocateOrder``
(``OldestToNewest NewestToOldest``). Refund: ``originalPaymentId``, ``amount``,
``reference``, ``refundAllocations[{invoiceId, amount}]``, ``method`` (``PaymentMethod
Check Cash DirectDeposit``).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import Field

from billcycle.bulkjobs import payment_records
from billcycle.errors import InvalidValue, MissingField
from billcycle.fusebill.query import MAX_ID
from billcycle.fusebill.schemas.customers import Amount, FusebillResponse, timestamp
from billcycle.fusebill.schemas.invoices import wire_invoice_number
from billcycle.money import from_minor
from billcycle.payments.activities import CollectedPayment
from billcycle.payments.activity_models import PaymentActivity
from billcycle.payments.activity_statuses import (
    AllocationOrder,
    MethodKind,
    PaymentSource,
    RefundChannel,
)
from billcycle.payments.inputs import InvoiceApplication, NewCollection, NewCustomerRefund
from billcycle.payments.models import Refund

_SHOWN = 40
_MAX_DIGITS = 15
_MAX_PLACES = 30


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _invalid(where: str, message: str, field: str) -> InvalidValue:
    return InvalidValue(f"{where}{message}", resource="payment", field=field)


def loads(raw: bytes | str) -> Any:
    """JSON with its numbers as exact decimals (integers stay integers)."""
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise InvalidValue("The request body is not valid JSON.") from None


def folded(body: Any, where: str = "") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidValue(
            f"{where}must be a payment object."
            if where
            else "The request body must be a JSON object."
        )
    return {str(key).casefold(): value for key, value in body.items()}


def _id(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _invalid(where, f"{name}: {_shown(value)} is not an id (a positive integer).", name)
    try:
        number = int(value.strip()) if isinstance(value, str) else value
    except ValueError:
        raise _invalid(
            where, f"{name}: {_shown(value)} is not an id (a positive integer).", name
        ) from None
    if not 1 <= number <= MAX_ID:
        raise _invalid(where, f"{name}: {number} is not an id (a positive integer).", name)
    return number


def _amount(value: Any, name: str, where: str) -> Decimal:
    """A JSON number or a numeric string, finite and bounded (never a boolean); its sign
    and precision are the domain's to judge against the currency."""
    amount: Decimal | None = None
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))  # the shortest repr: 9.99 is exactly 9.99
    elif isinstance(value, str) and len(value) <= _SHOWN:
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            amount = None
    if amount is None or not amount.is_finite():
        raise _invalid(where, f"{name}: {_shown(value)} is not an amount.", name)
    exponent = amount.as_tuple().exponent
    if amount.adjusted() >= _MAX_DIGITS or (isinstance(exponent, int) and exponent < -_MAX_PLACES):
        raise _invalid(where, f"{name}: {_shown(value)} is out of range.", name)
    return amount


def _bool(value: Any, name: str, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid(where, f"{name}: {_shown(value)} is not true or false.", name)
    return value


def _text(value: Any, name: str, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(where, f"{name}: {_shown(value)} is not a string.", name)
    return value


_WORDS: dict[type[Any], dict[str, Any]] = {}


def _word(value: Any, words: type[Any], name: str, where: str, default: Any = None) -> Any:
    if value is None and default is not None:
        return default
    by_folded = _WORDS.get(words)
    if by_folded is None:
        by_folded = _WORDS[words] = {member.value.casefold(): member for member in words}
    if isinstance(value, str):
        found = by_folded.get(value) or by_folded.get(value.strip().casefold())
        if found is not None:
            return found
    allowed = ", ".join(member.value for member in words)
    raise _invalid(where, f"{name}: {_shown(value)} is not one of {allowed}.", name)


def _allocations(value: Any, name: str, where: str) -> tuple[InvoiceApplication, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid(where, f"{name} must be a list of {{invoiceId, amount}}.", name)
    found: list[InvoiceApplication] = []
    for index, item in enumerate(value):
        at = f"{name}[{index}]"
        if not isinstance(item, dict):
            raise _invalid(where, f"{at} must be an object {{invoiceId, amount}}.", name)
        fields = {str(key).casefold(): field for key, field in item.items()}
        if fields.get("invoiceid") is None:
            raise _invalid(where, f"{at}.invoiceId is required.", name)
        if fields.get("amount") is None:
            raise _invalid(where, f"{at}.amount is required.", name)
        found.append(
            InvoiceApplication(
                _id(fields["invoiceid"], f"{at}.invoiceId", where),
                _amount(fields["amount"], f"{at}.amount", where),
            )
        )
    return tuple(found)


def parse_payment(body: Any, where: str = "") -> NewCollection:
    """A Create Payment body (``where`` prefixes messages: ``"data[3]: "`` in a job)."""
    fields = folded(body, where)
    for required in ("customerId", "amount", "paymentMethod"):
        if fields.get(required.casefold()) is None:
            raise MissingField(
                f"{where}{required} is required.", resource="payment", field=required
            )
    method_id = fields.get("paymentmethodid")
    return NewCollection(
        account_id=_id(fields["customerid"], "customerId", where),
        amount=_amount(fields["amount"], "amount", where),
        method_kind=_word(fields["paymentmethod"], MethodKind, "paymentMethod", where),
        # Fusebill requires it; a payment that names none was entered by hand.
        source=_word(fields.get("source"), PaymentSource, "source", where, PaymentSource.MANUAL),
        reference=_text(fields.get("reference"), "reference", where),
        payment_method_id=(
            _id(method_id, "paymentMethodId", where) if method_id is not None else None
        ),
        use_default_payment_method=_bool(
            fields.get("usedefaultpaymentmethod"), "useDefaultPaymentMethod", where
        ),
        allocations=_allocations(fields.get("paymentallocations"), "paymentAllocations", where),
        auto_allocate=_bool(fields.get("autoallocate"), "autoAllocate", where),
        order=_word(
            fields.get("autoallocateorder"),
            AllocationOrder,
            "autoAllocateOrder",
            where,
            AllocationOrder.OLDEST_TO_NEWEST,
        ),
    )


def parse_refund(raw: bytes) -> NewCustomerRefund:
    fields = folded(loads(raw))
    for required in ("originalPaymentId", "amount"):
        if fields.get(required.casefold()) is None:
            raise MissingField(f"{required} is required.", resource="refund", field=required)
    return NewCustomerRefund(
        payment_id=_id(fields["originalpaymentid"], "originalPaymentId", ""),
        amount=_amount(fields["amount"], "amount", ""),
        channel=_word(
            fields.get("method"), RefundChannel, "method", "", RefundChannel.PAYMENT_METHOD
        ),
        reference=_text(fields.get("reference"), "reference", ""),
        allocations=_allocations(fields.get("refundallocations"), "refundAllocations", ""),
    )


def parse_bulk_payments(fields: dict[str, Any]) -> list[str]:
    """A BulkPayment create body (folded): ``data``, a list of Create Payment bodies, as
    the job's stored records (``bulkjobs.payment_records``). A record that is not a
    payment body is refused with the request (400), naming its position; what only the
    database can judge fails the record at validation.

    A body in the stored form already (Fusebill's property names as documented, JSON
    numbers, known words) is stored as it came, after a few type checks: a million
    records cost seconds less than reading each into a ``NewCollection`` and back.
    Anything else (other casing, numeric strings) takes that longer way."""
    data = fields.get("data")
    if data is None:
        raise MissingField(
            "data is required: the list of payments to record.", resource="bulk_job", field="data"
        )
    if not isinstance(data, list):
        raise InvalidValue("data must be a list of payments.", field="data")
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    stored: list[str] = []
    for i, item in enumerate(data):
        if stored_form(item):
            stored.append(dumps(item))
        else:
            stored.append(payment_records.encode(parse_payment(item, f"data[{i}]: ")))
    return stored


_STORED_KEYS = frozenset(payment_records.STORED_KEYS)
_STORED_METHODS = frozenset(kind.value for kind in MethodKind)
_STORED_SOURCES = frozenset(source.value for source in PaymentSource)
_STORED_ORDERS = frozenset(order.value for order in AllocationOrder)


def _number(value: Any) -> bool:
    # (NaN and infinities compare false.)
    return type(value) in (int, float) and bool(-MAX_AMOUNT < value < MAX_AMOUNT)


def _stored_id(value: Any) -> bool:
    return type(value) is int and 1 <= value <= MAX_ID


def stored_form(item: Any) -> bool:
    """Whether a record can be stored as it came (see ``parse_bulk_payments``)."""
    if type(item) is not dict or not item.keys() <= _STORED_KEYS:
        return False
    get = item.get
    if not (
        _stored_id(get("customerId"))
        and _number(get("amount"))
        and get("paymentMethod") in _STORED_METHODS
        and get("source", "Manual") in _STORED_SOURCES
        and get("autoAllocateOrder", "OldestToNewest") in _STORED_ORDERS
        and type(get("autoAllocate", False)) is bool
        and type(get("useDefaultPaymentMethod", False)) is bool
    ):
        return False
    reference = get("reference")
    if reference is not None and type(reference) is not str:
        return False
    method_id = get("paymentMethodId")
    if method_id is not None and not _stored_id(method_id):
        return False
    allocations = get("paymentAllocations")
    if allocations is None:
        return True
    if type(allocations) is not list:
        return False
    for allocation in allocations:
        if (
            type(allocation) is not dict
            or allocation.keys() != _ALLOCATION_KEYS
            or not _stored_id(allocation["invoiceId"])
            or not _number(allocation["amount"])
        ):
            return False
    return True


_ALLOCATION_KEYS = frozenset({"invoiceId", "amount"})
MAX_AMOUNT = 10**_MAX_DIGITS


# -- responses ---------------------------------------------------------------------------


class InvoiceAllocationOut(FusebillResponse):
    invoice_id: int
    invoice_number: int | None
    amount: Amount


class RefundOut(FusebillResponse):
    payment_activity_id: int | None
    reference: str | None
    effective_timestamp: str
    description: str | None = None
    customer_id: int
    original_payment_activity_id: int | None
    original_payment_id: int
    amount: Amount
    currency: str
    method: str | None
    id: int
    uri: str | None = None


class PaymentOut(FusebillResponse):
    payment_activity_id: int | None
    reference: str | None
    effective_timestamp: str
    description: str | None = None
    customer_id: int
    original_payment_activity_id: int | None = None
    amount: Amount
    currency: str
    invoice_allocations: list[InvoiceAllocationOut]
    refunds: list[RefundOut]
    unallocated_amount: Amount
    refundable_amount: Amount
    gateway_fee: Amount | None = None
    settlement: str | None = None
    id: int
    uri: str | None


class ActivityOut(FusebillResponse):
    customer_id: int
    status: str
    effective_timestamp: str
    created_timestamp: str
    source: str
    method: str
    transaction_type: str
    amount: Amount
    gateway_fee: Amount | None = None
    currency: str
    transaction: PaymentOut | RefundOut | None = Field(
        description="The payment a collection created, or the refund; null for a failed attempt"
    )
    id: int
    uri: str | None


def refund_out(
    refund: Refund, activity: PaymentActivity | None, origin: PaymentActivity | None
) -> RefundOut:
    return RefundOut(
        payment_activity_id=activity.id if activity is not None else None,
        reference=activity.reference if activity is not None else refund.reference_id,
        effective_timestamp=timestamp(activity.effective_at if activity else refund.created_at),
        customer_id=refund.account_id,
        original_payment_activity_id=origin.id if origin is not None else None,
        original_payment_id=refund.payment_id,
        amount=from_minor(refund.amount_minor, refund.currency),
        currency=refund.currency,
        method=activity.method if activity is not None else refund.method_type,
        id=refund.id,
    )


def payment_out(found: CollectedPayment, uri: str | None) -> PaymentOut:
    view = found.view
    payment = view.payment
    currency = payment.currency
    by_invoice: dict[int, int] = {}
    for invoice_id, _, net in view.applications:
        by_invoice[invoice_id] = by_invoice.get(invoice_id, 0) + net
    activity = found.activity
    return PaymentOut(
        payment_activity_id=activity.id if activity is not None else None,
        reference=activity.reference if activity is not None else payment.reference_id,
        effective_timestamp=timestamp(
            activity.effective_at if activity is not None else payment.created_at
        ),
        customer_id=payment.account_id,
        amount=from_minor(payment.amount_minor, currency),
        currency=currency,
        invoice_allocations=[
            InvoiceAllocationOut(
                invoice_id=invoice_id,
                invoice_number=wire_invoice_number(found.invoice_numbers.get(invoice_id, "")),
                amount=from_minor(net, currency),
            )
            for invoice_id, net in sorted(by_invoice.items())
            if net > 0
        ],
        refunds=[
            refund_out(refund, found.refund_activities.get(refund.id), activity)
            for refund in view.refunds
        ],
        unallocated_amount=from_minor(view.amounts.unapplied_minor, currency),
        refundable_amount=from_minor(view.amounts.refundable_minor, currency),
        id=payment.id,
        uri=uri,
    )


def activity_out(
    activity: PaymentActivity,
    status: str,
    transaction: PaymentOut | RefundOut | None,
    uri: str | None,
) -> ActivityOut:
    return ActivityOut(
        customer_id=activity.account_id,
        status=status,
        effective_timestamp=timestamp(activity.effective_at),
        created_timestamp=timestamp(activity.created_at),
        source=activity.source,
        method=activity.method,
        transaction_type=activity.transaction_type,
        amount=from_minor(activity.amount_minor, activity.currency),
        currency=activity.currency,
        transaction=transaction,
        id=activity.id,
        uri=uri,
    )


# -- documentation models (the OpenAPI request bodies; requests are read by hand) ---------


class AllocationBody(FusebillResponse):
    invoice_id: int
    amount: Decimal


class PaymentBody(FusebillResponse):
    customer_id: int
    amount: Decimal
    payment_method: MethodKind
    payment_method_id: int | None = None
    use_default_payment_method: bool = False
    source: PaymentSource = PaymentSource.MANUAL
    reference: str | None = Field(default=None, max_length=500)
    payment_allocations: list[AllocationBody] = []
    auto_allocate: bool = False
    auto_allocate_order: AllocationOrder = AllocationOrder.OLDEST_TO_NEWEST


class RefundBody(FusebillResponse):
    original_payment_id: int
    amount: Decimal
    reference: str | None = Field(default=None, max_length=500)
    refund_allocations: list[AllocationBody] = []
    method: RefundChannel = RefundChannel.PAYMENT_METHOD


class BulkPaymentBody(FusebillResponse):
    account_upload_type: str = Field(examples=["BulkPayment"])
    data: list[PaymentBody]
