"""Chargebacks and ACH returns: a settled electronic payment comes back after the fact.

Zuora's gateway reconciliation (``POST /v1/gateway-settlement/payments/{key}/chargeback``
and ``/reject``): the payment stays Processed; its gateway state becomes ``Settled``
(chargeback, a lost dispute) or ``FailedToSettle`` (reject, an ACH return or a
settlement the bank refused); an external refund takes the money back, with the reason
code Zuora uses ("Payment Reversal", "Payment Rejection") and the refund transaction
type ``Chargeback`` or ``PaymentReversal``.

The refund takes back what the payment applied as far as its unapplied amount does not
cover (the newest applications first): those invoices owe it again, they reopen. The
money leaves the account. It counts as a failure on the payment method
(``numConsecutiveFailures`` + 1), which is what dunning and retry rules read.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, RuleViolation
from billcycle.ledger.models import EntrySource
from billcycle.money import from_minor
from billcycle.paymentmethods import outcomes as method_outcomes
from billcycle.paymentmethods import repository as methods
from billcycle.paymentmethods.statuses import PaymentMethodType
from billcycle.payments import refunds
from billcycle.payments.checks import PAYMENT, lock, positive_minor, require_settled
from billcycle.payments.inputs import NewRefund
from billcycle.payments.models import Payment, Refund
from billcycle.payments.statuses import (
    GatewayState,
    PaymentType,
    RefundMethodType,
    RefundTransactionType,
)
from billcycle.payments.views import amounts_of

# Zuora's reason codes for the refunds its gateway reconciliation creates.
CHARGEBACK_REASON = "Payment Reversal"
REJECT_REASON = "Payment Rejection"

_REFUND_METHOD = {
    PaymentMethodType.CREDIT_CARD: RefundMethodType.CREDIT_CARD,
    PaymentMethodType.CREDIT_CARD_REFERENCE_TRANSACTION: (
        RefundMethodType.CREDIT_CARD_REFERENCE_TRANSACTION
    ),
    PaymentMethodType.ACH: RefundMethodType.ACH,
    PaymentMethodType.SEPA: RefundMethodType.BANK_TRANSFER,
    PaymentMethodType.BANK_TRANSFER: RefundMethodType.BANK_TRANSFER,
}


@dataclass(frozen=True, slots=True)
class GatewayReversal:
    """What the gateway's settlement report says about the payment (Zuora's
    ReversePaymentRequest / RejectPaymentRequest). ``amount`` None: all of it."""

    amount: Decimal | None = None
    gateway_response: str | None = None
    gateway_response_code: str | None = None
    reference_id: str | None = None
    comment: str | None = None
    source: EntrySource = EntrySource.API


def chargeback_payment(ctx: ServiceContext, payment_id: int, data: GatewayReversal) -> Refund:
    """A lost dispute: ``data.amount`` (at most what is not refunded yet) goes back to
    the cardholder; the payment's gateway state is Settled."""
    if data.amount is None:
        raise InvalidValue("The chargeback amount is required.", resource=PAYMENT, field="amount")
    return _reverse(
        ctx,
        payment_id,
        data,
        reason=CHARGEBACK_REASON,
        kind=RefundTransactionType.CHARGEBACK,
        state=GatewayState.SETTLED,
    )


def reject_payment(ctx: ServiceContext, payment_id: int, data: GatewayReversal) -> Refund:
    """The settlement failed (an ACH return): the whole payment (all not refunded yet)
    comes back; its gateway state is FailedToSettle."""
    return _reverse(
        ctx,
        payment_id,
        GatewayReversal(
            amount=None,
            gateway_response=data.gateway_response,
            gateway_response_code=data.gateway_response_code,
            reference_id=data.reference_id,
            comment=data.comment,
            source=data.source,
        ),
        reason=REJECT_REASON,
        kind=RefundTransactionType.PAYMENT_REVERSAL,
        state=GatewayState.FAILED_TO_SETTLE,
    )


def _reverse(
    ctx: ServiceContext,
    payment_id: int,
    data: GatewayReversal,
    *,
    reason: str,
    kind: RefundTransactionType,
    state: GatewayState,
) -> Refund:
    payment = lock(ctx, payment_id)
    if payment.payment_type != PaymentType.ELECTRONIC:
        raise RuleViolation(
            f"Payment {payment.number} is external: only electronic payments are settled "
            "by a gateway.",
            resource=PAYMENT,
        )
    require_settled(payment, "reversed")
    if payment.gateway_state == GatewayState.FAILED_TO_SETTLE:
        raise RuleViolation(f"Payment {payment.number} was already rejected.", resource=PAYMENT)
    _check_lengths(data)
    left = amounts_of(ctx.session, [payment])[payment.id].refundable_minor
    amount = left if data.amount is None else positive_minor(data.amount, payment.currency)
    if left <= 0 or amount > left:
        raise RuleViolation(
            f"Payment {payment.number} has {from_minor(max(left, 0), payment.currency)} "
            f"{payment.currency} not refunded yet: it cannot give back "
            f"{from_minor(amount, payment.currency)}.",
            resource=PAYMENT,
            field="amount",
        )
    refund = refunds.refund_with_auto_unapply(
        ctx,
        payment.id,
        NewRefund(
            amount=from_minor(amount, payment.currency),
            refund_type=PaymentType.EXTERNAL,
            method_type=_method_type(ctx, payment),
            reason_code=reason,
            reference_id=data.reference_id,
            comment=data.comment,
            refund_transaction_type=kind,
            source=data.source,
        ),
    )
    now = ctx.clock.now()
    refund.gateway_id = payment.gateway_id
    refund.gateway_response = data.gateway_response
    refund.gateway_response_code = data.gateway_response_code
    payment.gateway_state = state.value
    if data.gateway_response is not None:
        payment.gateway_response = data.gateway_response
    if data.gateway_response_code is not None:
        payment.gateway_response_code = data.gateway_response_code
    payment.updated_at = now
    if payment.payment_method_id is not None:
        method_outcomes.record_reversal(ctx, payment.payment_method_id, at=now)
    ctx.session.flush()
    return refund


def _method_type(ctx: ServiceContext, payment: Payment) -> RefundMethodType:
    if payment.payment_method_id is None:
        return RefundMethodType.OTHER
    method = methods.get_method(ctx.session, ctx.tenant_id, payment.payment_method_id)
    if method is None:
        return RefundMethodType.OTHER
    try:
        return _REFUND_METHOD.get(PaymentMethodType(method.type), RefundMethodType.OTHER)
    except ValueError:
        return RefundMethodType.OTHER


def _check_lengths(data: GatewayReversal) -> None:
    for field, value, limit in (
        ("gatewayResponse", data.gateway_response, 500),
        ("gatewayResponseCode", data.gateway_response_code, 20),
        ("referenceId", data.reference_id, 100),
        ("comment", data.comment, 255),
    ):
        if value is not None and len(value) > limit:
            raise InvalidValue(
                f"The {field} is longer than {limit} characters.", resource=PAYMENT, field=field
            )
