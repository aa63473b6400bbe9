"""Electronic refunds: money given back through the gateway that took it.

Three phases, like a charge (``payments.charging``): the refund is written (its amount
leaves the payment at once, so it cannot be refunded or applied twice) and is
Processing, the unit of work commits; the gateway is asked to refund the sale with the
refund number as idempotency key; the answer is recorded. Approved: Processed.
Declined (or never received, or refused before reaching the gateway): Error, and the
money comes back to the payment as unapplied, so ``amount = applied + unapplied +
refunded`` holds at every step. Pending or Unknown: still Processing, for the
reconciler, which asks ``status`` with the same key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from billcycle import metrics
from billcycle.context import ServiceContext
from billcycle.errors import DomainError, RuleViolation
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.gateways import service as gateways
from billcycle.gateways.interface import GatewayResult, RefundRequest, check_idempotency_key
from billcycle.gateways.statuses import GatewayOutcome, TransactionKind
from billcycle.money import from_minor
from billcycle.payments import pending_repository as repo
from billcycle.payments import refunds
from billcycle.payments import service as payments
from billcycle.payments.checks import lock
from billcycle.payments.inputs import NewRefund
from billcycle.payments.models import Refund
from billcycle.payments.statuses import PaymentType, RefundStatus
from billcycle.runtime import Runtime

log = logging.getLogger(__name__)

REFUND = refunds.REFUND


def begin_refund(
    ctx: ServiceContext, payment_id: int, data: NewRefund, *, auto_unapply: bool = False
) -> Refund:
    """Write an electronic refund of a settled electronic payment, Processing (the
    caller commits, then :func:`send_refund`). ``auto_unapply``: Zuora's refund with
    auto-unapply (takes back applications first)."""
    payment = lock(ctx, payment_id)
    if payment.payment_type != PaymentType.ELECTRONIC:
        raise RuleViolation(
            f"Payment {payment.number} is external: its refund is external too.",
            resource=REFUND,
            field="type",
        )
    if not payment.gateway_transaction_id:
        raise RuleViolation(
            f"Payment {payment.number} has no gateway transaction to refund.", resource=REFUND
        )
    electronic = NewRefund(
        amount=data.amount,
        refund_type=PaymentType.ELECTRONIC,
        method_type=None,
        refund_date=data.refund_date,
        reason_code=data.reason_code,
        reference_id=data.reference_id,
        comment=data.comment,
        refund_transaction_type=data.refund_transaction_type,
        unapply=data.unapply,
        source=data.source,
    )
    if auto_unapply:
        refund = refunds.refund_with_auto_unapply(ctx, payment_id, electronic)
    else:
        refund = refunds.refund_payment(ctx, payment_id, electronic)
    refund.status = RefundStatus.PROCESSING.value
    refund.gateway_id = payment.gateway_id
    ctx.session.flush()
    return refund


def send_refund(
    runtime: Runtime,
    tenant_id: int,
    refund_id: int,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[GatewayResult | None, DomainError | None]:
    """Ask the payment's gateway to refund (no unit of work held while it answers)."""
    with runtime.service_context(tenant_id) as ctx:
        refund = refunds.get_refund(ctx, refund_id)
        payment = payments.get_payment(ctx, refund.payment_id)
        transaction = payment.gateway_transaction_id or ""
        gateway = gateways.open_gateway(ctx, refund.gateway_id, sleep=sleep)
        request = RefundRequest(
            idempotency_key=check_idempotency_key(refund.number),
            transaction_id=transaction,
            amount=from_minor(refund.amount_minor, refund.currency),
            currency=refund.currency,
        )
    try:
        with metrics.timed_gateway_call(metrics.gateway_label(gateway), "refund") as outcome:
            answer = gateway.refund(request)
            outcome.append(answer.outcome.value.lower())
        return answer, None
    except DomainError as exc:
        return None, exc
    except Exception:  # a lost answer: the reconciler asks the gateway later
        log.exception("gateway refund %s: no answer", request.idempotency_key)
        return (
            GatewayResult(
                kind=TransactionKind.REFUND,
                outcome=GatewayOutcome.UNKNOWN,
                idempotency_key=request.idempotency_key,
            ),
            None,
        )


def finish_refund(
    ctx: ServiceContext,
    refund_id: int,
    result: GatewayResult | None,
    error: DomainError | None = None,
) -> Refund:
    """Record the gateway's answer on a Processing refund (under its payment's lock;
    a refund no longer Processing is left as it is, so an answer counts once)."""
    refund = refunds.get_refund(ctx, refund_id)
    payment = lock(ctx, refund.payment_id)
    found = repo.lock_refund(ctx.session, ctx.tenant_id, refund_id)
    assert found is not None
    refund = found
    if refund.status != RefundStatus.PROCESSING:
        return refund
    now = ctx.clock.now()
    if result is not None:
        refund.gateway_response = result.message[:500] if result.message else None
        refund.gateway_response_code = result.code[:100] if result.code else None
        if result.transaction_id:
            refund.gateway_transaction_id = result.transaction_id
    if result is not None and result.outcome in (GatewayOutcome.PENDING, GatewayOutcome.UNKNOWN):
        refund.updated_at = now
        ctx.session.flush()
        return refund
    if result is not None and result.outcome is GatewayOutcome.APPROVED:
        refund.status = RefundStatus.PROCESSED.value
    else:
        if error is not None:
            refund.gateway_response = error.render()[:500]
        refund.status = RefundStatus.ERROR.value
        # The money never left: back to the payment, unapplied.
        refunds.return_to_payment(ctx, payment, refund)
        payment.updated_at = now
    refund.updated_at = now
    ctx.session.flush()
    events.emit(
        ctx,
        EventType.REFUND_PROCESSED
        if refund.status == RefundStatus.PROCESSED
        else EventType.REFUND_FAILED,
        refund,
    )
    return refund


def refund_now(
    runtime: Runtime,
    tenant_id: int,
    payment_id: int,
    data: NewRefund,
    *,
    auto_unapply: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> Refund:
    """An electronic refund in its three units of work (a refused one raises and writes
    nothing)."""
    with runtime.service_context(tenant_id) as ctx:
        refund_id = begin_refund(ctx, payment_id, data, auto_unapply=auto_unapply).id
    result, error = send_refund(runtime, tenant_id, refund_id, sleep=sleep)
    with runtime.service_context(tenant_id) as ctx:
        return finish_refund(ctx, refund_id, result, error)


def reconcile_refund(
    runtime: Runtime,
    tenant_id: int,
    refund_id: int,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Refund:
    """Ask the gateway what became of a Processing refund (by its number) and record it;
    NotFound: it never reached the gateway, so it failed and the money is back."""
    with runtime.service_context(tenant_id) as ctx:
        refund = refunds.get_refund(ctx, refund_id)
        if refund.status != RefundStatus.PROCESSING:
            return refund
        gateway = gateways.open_gateway(ctx, refund.gateway_id, sleep=sleep)
        key = refund.number
    with metrics.timed_gateway_call(metrics.gateway_label(gateway), "status") as answered:
        result = gateway.status(key)
        answered.append(result.outcome.value.lower())
    with runtime.service_context(tenant_id) as ctx:
        return finish_refund(ctx, refund_id, result)
