"""Zuora routes: ``/v1/gateway-settlement/payments/{payment-key}/chargeback`` and
``/reject`` (Zuora's PaymentGatewayReconciliationApi ``reverse_payment`` and
``reject_payment``): a settled electronic payment comes back after the fact."""

from __future__ import annotations

from fastapi import APIRouter

from billcycle.ids import parse_zuora_id
from billcycle.money import parse_amount
from billcycle.payments import chargebacks
from billcycle.payments import service as payments
from billcycle.payments.models import Payment
from billcycle.zuora.deps import Ctx
from billcycle.zuora.schemas import gateway_settlement as schemas

router = APIRouter(
    prefix="/v1/gateway-settlement/payments", tags=["Payment Gateway Reconciliation"]
)


def _payment(ctx: Ctx, payment_key: str) -> Payment:
    return payments.find_payment(ctx, payment_id=parse_zuora_id(payment_key), number=payment_key)


@router.post(
    "/{payment_key}/chargeback",
    response_model=schemas.SettlementRefundResponse,
    response_model_exclude_none=True,
    summary="Reverse a payment (chargeback)",
)
def reverse_payment(
    payment_key: str, body: schemas.ReversePaymentRequest, ctx: Ctx
) -> schemas.SettlementRefundResponse:
    """A lost dispute on a settled electronic payment: a refund of ``amount`` (type
    External, refundTransactionType Chargeback, reason "Payment Reversal") takes the
    money back, unapplying the newest applications first (those invoices reopen); the
    payment stays Processed with gateway state Settled, and its payment method counts
    one more consecutive failure."""
    payment = _payment(ctx, payment_key)
    refund = chargebacks.chargeback_payment(
        ctx,
        payment.id,
        chargebacks.GatewayReversal(
            amount=parse_amount(body.amount, payment.currency),
            gateway_response=body.gateway_response,
            gateway_response_code=body.gateway_response_code,
            reference_id=body.reference_id,
        ),
    )
    return schemas.refund_response(refund, payment)


@router.post(
    "/{payment_key}/reject",
    response_model=schemas.SettlementRefundResponse,
    response_model_exclude_none=True,
    summary="Reject a payment (failed settlement, ACH return)",
)
def reject_payment(
    payment_key: str, body: schemas.RejectPaymentRequest, ctx: Ctx
) -> schemas.SettlementRefundResponse:
    """The settlement failed: a refund of everything not refunded yet (reason "Payment
    Rejection", refundTransactionType PaymentReversal) takes the money back and the
    invoices it paid reopen; gateway state FailedToSettle; a failure on the method."""
    payment = _payment(ctx, payment_key)
    refund = chargebacks.reject_payment(
        ctx,
        payment.id,
        chargebacks.GatewayReversal(
            gateway_response=body.gateway_response,
            gateway_response_code=body.gateway_response_code,
            reference_id=body.reference_id,
        ),
    )
    return schemas.refund_response(refund, payment)
