"""Zuora wire shapes for ``/v1/gateway-settlement/payments/{payment-key}/chargeback`` and
``/reject``: zuora-sdk's ReversePaymentRequest, RejectPaymentRequest and the
RefundResponse both answer (the refund the reversal created)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, StrictFloat, StrictInt

from billcycle.ids import to_zuora_id
from billcycle.money import from_minor
from billcycle.payments.models import Payment, Refund
from billcycle.zuora.schemas.base import (
    CamelRequest,
    CommonResponse,
    WireAmount,
    zuora_datetime,
)


class RejectPaymentRequest(CamelRequest):
    """zuora-sdk's RejectPaymentRequest (reconciliation fields accepted, not kept)."""

    gateway_reconciliation_reason: Annotated[str, Field(max_length=64)] | None = None
    gateway_reconciliation_status: Annotated[str, Field(max_length=64)] | None = None
    gateway_response: Annotated[str, Field(max_length=500)] | None = None
    gateway_response_code: Annotated[str, Field(max_length=20)] | None = None
    reference_id: Annotated[str, Field(max_length=100)] | None = None
    second_reference_id: Annotated[str, Field(max_length=100)] | None = None
    settled_on: str | None = None


class ReversePaymentRequest(RejectPaymentRequest):
    """zuora-sdk's ReversePaymentRequest: the chargeback's ``amount`` is required."""

    amount: StrictInt | StrictFloat
    payout_id: Annotated[str, Field(max_length=64)] | None = None


class SettlementRefundResponse(CommonResponse):
    """zuora-sdk's RefundResponse (the fields billcycle knows)."""

    id: str
    number: str
    account_id: str
    amount: WireAmount
    payment_id: str
    payment_number: str
    gateway_id: str | None = None
    gateway_response: str | None = None
    gateway_response_code: str | None = None
    method_type: str | None = None
    reason_code: str | None = None
    reference_id: str | None = None
    refund_date: str
    refund_transaction_type: str | None = None
    status: str
    type: str
    comment: str | None = None
    created_date: str | None = None
    updated_date: str | None = None


def refund_response(refund: Refund, payment: Payment) -> SettlementRefundResponse:
    amount: Decimal = from_minor(refund.amount_minor, refund.currency)
    return SettlementRefundResponse(
        id=to_zuora_id(refund.id),
        number=refund.number,
        account_id=to_zuora_id(refund.account_id),
        amount=amount,
        payment_id=to_zuora_id(payment.id),
        payment_number=payment.number,
        gateway_id=to_zuora_id(refund.gateway_id) if refund.gateway_id is not None else None,
        gateway_response=refund.gateway_response,
        gateway_response_code=refund.gateway_response_code,
        method_type=refund.method_type,
        reason_code=refund.reason_code,
        reference_id=refund.reference_id,
        refund_date=refund.refund_date.isoformat(),
        refund_transaction_type=refund.refund_transaction_type,
        status=refund.status,
        type=refund.refund_type,
        comment=refund.comment,
        created_date=zuora_datetime(refund.created_at),
        updated_date=zuora_datetime(refund.updated_at),
    )
