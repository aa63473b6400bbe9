"""Zuora wire shapes for ``/v1/payments`` and ``/v1/refunds``.

Field names and types follow zuora-sdk's models (CreatePaymentRequest,
ApplyPaymentRequest, UnapplyPaymentRequest, TransferPayment, UpdatePaymentRequest,
CreateRefundRequest, CreateRefundwithAutoUnapply, UpdateRefundRequest, PaymentResponse,
GetPaymentsResponse, RefundResponse, GetRefundsResponse), so the SDK sends and reads them
unchanged. Amounts are JSON numbers read exactly (``Decimal(str(x))``); dates
``yyyy-mm-dd``; date-times ``yyyy-mm-dd hh:mm:ss``. Enum fields take the domain's StrEnums,
whose words are Zuora's.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import Field, StrictBool, StrictFloat, StrictInt

from billcycle.errors import InvalidValue
from billcycle.ids import to_zuora_id
from billcycle.money import from_minor
from billcycle.payments.models import Refund
from billcycle.payments.statuses import (
    GatewayState,
    PaymentType,
    RefundMethodType,
    RefundStatus,
    RefundTransactionType,
)
from billcycle.payments.views import PaymentView
from billcycle.zuora.schemas.base import (
    CamelRequest,
    CamelResponse,
    CommonResponse,
    WireAmount,
    WireDate,
    zuora_datetime,
)

Number = StrictInt | StrictFloat
Text255 = Annotated[str, Field(max_length=255)]
Text100 = Annotated[str, Field(max_length=100)]
Text50 = Annotated[str, Field(max_length=50)]

MAX_DOCUMENTS = 1000  # Zuora's limit on invoices (and debit memos) per request


def exact(value: Number, field: str) -> Decimal:
    """A JSON number as the Decimal its text writes (``0.1`` stays 0.1)."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidValue(
            f"Invalid value for {field}: '{value}'.", resource="payment", field=field
        ) from exc
    if not amount.is_finite():
        raise InvalidValue(
            f"Invalid value for {field}: '{value}'.", resource="payment", field=field
        )
    return amount


# -- requests --------------------------------------------------------------------------


class InvoiceItemApplication(CamelRequest):
    """zuora-sdk's CreatePaymentInvoiceApplicationItem (and the apply/unapply twins)."""

    amount: Number
    invoice_item_id: str | None = None
    tax_item_id: str | None = None


class InvoiceApplicationRequest(CamelRequest):
    """zuora-sdk's CreatePaymentInvoiceApplication / ApplyPaymentInvoiceApplication /
    UnapplyPaymentInvoiceApplication: ``invoiceId`` or ``invoiceNumber``, and the amount."""

    amount: Number
    invoice_id: str | None = None
    invoice_number: str | None = None
    items: Annotated[list[InvoiceItemApplication], Field(max_length=MAX_DOCUMENTS)] | None = None


class CreatePaymentRequest(CamelRequest):
    """zuora-sdk's CreatePaymentRequest. Options billcycle has no use for (finance
    information, custom rates, payment schedules, gateway options) are accepted and
    ignored; ``debitMemos`` are refused when not empty: billcycle has no debit memos."""

    amount: Number
    currency: str
    type: PaymentType
    account_id: str | None = None
    account_number: str | None = None
    effective_date: WireDate | None = None
    invoices: Annotated[list[InvoiceApplicationRequest], Field(max_length=MAX_DOCUMENTS)] | None = (
        None
    )
    debit_memos: list[dict[str, Any]] | None = None
    payment_method_id: str | None = None
    payment_method_type: str | None = None
    gateway_id: str | None = None
    gateway_order_id: Text50 | None = None
    auth_transaction_id: Text50 | None = None
    reference_id: Text100 | None = None
    soft_descriptor: Annotated[str, Field(max_length=35)] | None = None
    soft_descriptor_phone: Annotated[str, Field(max_length=20)] | None = None
    mit_transaction_source: str | None = None
    comment: Text255 | None = None
    prepayment: StrictBool | None = None
    standalone: StrictBool | None = None


class ApplyPaymentRequest(CamelRequest):
    """zuora-sdk's ApplyPaymentRequest and UnapplyPaymentRequest."""

    effective_date: WireDate | None = None
    invoices: Annotated[list[InvoiceApplicationRequest], Field(max_length=MAX_DOCUMENTS)] | None = (
        None
    )
    debit_memos: list[dict[str, Any]] | None = None


class TransferPaymentRequest(CamelRequest):
    """zuora-sdk's TransferPayment."""

    account_id: str | None = None
    effective_date: WireDate | None = None


class UpdatePaymentRequest(CamelRequest):
    """zuora-sdk's UpdatePaymentRequest (reconciliation fields accepted and ignored)."""

    comment: Text255 | None = None
    reference_id: Text100 | None = None
    gateway_state: GatewayState | None = None


class CreateRefundRequest(CamelRequest):
    """zuora-sdk's CreateRefundRequest."""

    total_amount: Number
    type: PaymentType
    method_type: RefundMethodType | None = None
    refund_date: WireDate | None = None
    reason_code: Text100 | None = None
    reference_id: Text100 | None = None
    comment: Text255 | None = None
    refund_transaction_type: RefundTransactionType | None = None
    soft_descriptor: Annotated[str, Field(max_length=35)] | None = None
    soft_descriptor_phone: Annotated[str, Field(max_length=20)] | None = None


class RefundWithAutoUnapplyRequest(CreateRefundRequest):
    """zuora-sdk's CreateRefundwithAutoUnapply: the invoices to unapply from first."""

    invoices: Annotated[list[InvoiceApplicationRequest], Field(max_length=MAX_DOCUMENTS)] | None = (
        None
    )
    debit_memos: list[dict[str, Any]] | None = None
    write_off: StrictBool | None = None


class UpdateRefundRequest(CamelRequest):
    """zuora-sdk's UpdateRefundRequest (reconciliation fields accepted and ignored)."""

    comment: Text255 | None = None
    reason_code: Text100 | None = None
    reference_id: Text100 | None = None


# -- responses -------------------------------------------------------------------------


class PaymentBody(CamelResponse):
    """zuora-sdk's Payment (list element) and PaymentResponse (with ``success``)."""

    id: str
    number: str
    account_id: str
    account_number: str
    amount: WireAmount
    applied_amount: WireAmount
    unapplied_amount: WireAmount
    refund_amount: WireAmount
    credit_balance_amount: WireAmount
    currency: str
    status: str
    type: str
    effective_date: str
    payment_method_id: str | None = None
    gateway_id: str | None = None
    gateway_order_id: str | None = None
    gateway_response: str | None = None
    gateway_response_code: str | None = None
    gateway_state: str | None = None
    auth_transaction_id: str | None = None
    reference_id: str | None = None
    soft_descriptor: str | None = None
    comment: str | None = None
    submitted_on: str | None = None
    settled_on: str | None = None
    cancelled_on: str | None = None
    created_date: str
    updated_date: str
    standalone: bool = False


class PaymentResponse(PaymentBody):
    success: bool = True


class PaymentsResponse(CommonResponse):
    payments: list[PaymentBody]
    next_page: str | None = None


class RefundBody(CamelResponse):
    """zuora-sdk's Refund (list element) and RefundResponse (with ``success``)."""

    id: str
    number: str
    account_id: str
    amount: WireAmount
    payment_id: str
    payment_number: str | None = None
    status: str
    type: str
    method_type: str | None = None
    refund_date: str
    reason_code: str | None = None
    reference_id: str | None = None
    comment: str | None = None
    refund_transaction_type: str | None = None
    refund_transaction_time: str | None = None
    gateway_id: str | None = None
    gateway_response: str | None = None
    gateway_response_code: str | None = None
    cancelled_on: str | None = None
    created_date: str
    updated_date: str


class RefundResponse(RefundBody):
    success: bool = True


class RefundsResponse(CommonResponse):
    refunds: list[RefundBody]
    next_page: str | None = None


def _hex(value: int | None) -> str | None:
    return to_zuora_id(value) if value is not None else None


def payment_body(view: PaymentView, account_number: str) -> dict[str, Any]:
    payment, amounts, currency = view.payment, view.amounts, view.payment.currency
    body = PaymentBody(
        id=to_zuora_id(payment.id),
        number=payment.number,
        account_id=to_zuora_id(payment.account_id),
        account_number=account_number,
        amount=from_minor(amounts.amount_minor, currency),
        applied_amount=from_minor(amounts.applied_minor, currency),
        unapplied_amount=from_minor(amounts.unapplied_minor, currency),
        refund_amount=from_minor(amounts.refunded_minor, currency),
        credit_balance_amount=from_minor(view.credit_balance_minor, currency),
        currency=currency,
        status=payment.status,
        type=payment.payment_type,
        effective_date=payment.effective_date.isoformat(),
        payment_method_id=_hex(payment.payment_method_id),
        gateway_id=_hex(payment.gateway_id),
        gateway_order_id=payment.gateway_order_id,
        gateway_response=payment.gateway_response,
        gateway_response_code=payment.gateway_response_code,
        gateway_state=payment.gateway_state,
        auth_transaction_id=payment.auth_transaction_id,
        # Electronic: the gateway's transaction id, as Zuora shows it.
        reference_id=payment.gateway_transaction_id or payment.reference_id,
        soft_descriptor=payment.soft_descriptor,
        comment=payment.comment,
        submitted_on=zuora_datetime(payment.submitted_at),
        settled_on=zuora_datetime(payment.settled_at),
        cancelled_on=zuora_datetime(payment.cancelled_at),
        created_date=zuora_datetime(payment.created_at) or "",
        updated_date=zuora_datetime(payment.updated_at) or "",
    )
    data: dict[str, Any] = body.model_dump(by_alias=True, exclude_none=True, mode="json")
    return data


def refund_body(refund: Refund, payment_number: str | None) -> dict[str, Any]:
    canceled = refund.status == RefundStatus.CANCELED
    body = RefundBody(
        id=to_zuora_id(refund.id),
        number=refund.number,
        account_id=to_zuora_id(refund.account_id),
        amount=from_minor(refund.amount_minor, refund.currency),
        payment_id=to_zuora_id(refund.payment_id),
        payment_number=payment_number,
        status=refund.status,
        type=refund.refund_type,
        method_type=refund.method_type,
        refund_date=refund.refund_date.isoformat(),
        reason_code=refund.reason_code,
        # Electronic: the gateway's transaction id, as Zuora shows it.
        reference_id=refund.reference_id or refund.gateway_transaction_id,
        comment=refund.comment,
        refund_transaction_type=refund.refund_transaction_type,
        refund_transaction_time=zuora_datetime(refund.created_at),
        gateway_id=_hex(refund.gateway_id),
        gateway_response=refund.gateway_response,
        gateway_response_code=refund.gateway_response_code,
        # A refund keeps no cancellation time of its own: its last change is that.
        cancelled_on=zuora_datetime(refund.updated_at) if canceled else None,
        created_date=zuora_datetime(refund.created_at) or "",
        updated_date=zuora_datetime(refund.updated_at) or "",
    )
    data: dict[str, Any] = body.model_dump(by_alias=True, exclude_none=True, mode="json")
    return data
