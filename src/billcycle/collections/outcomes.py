"""What collections does with a payment's outcome: record it, email the customer, and
move the account's standing at once (a paid account is back to Good the same day, its
subscriptions resumed, without waiting for tomorrow's evaluation).

``on_payment_outcome`` is the one hook: whoever learns a payment's outcome (charging, a
payment run, the reconciler, a chargeback) calls it inside the unit of work that
records the outcome, after the payment's status and applications are written.
"""

from __future__ import annotations

from billcycle.collections import repository as repo
from billcycle.collections.events import Event, record
from billcycle.collections.policy import tenant_policy
from billcycle.collections.standing import StandingPass, evaluate_standing
from billcycle.collections.statuses import CollectionEventType
from billcycle.context import ServiceContext
from billcycle.errors import NotFound


def on_payment_outcome(
    ctx: ServiceContext,
    payment_id: int,
    succeeded: bool,
    gateway_code: str | None,
    message: str | None,
    *,
    email: bool = True,
) -> StandingPass:
    """Record the outcome event, queue the receipt or failure email (sent after this unit
    of work commits), and re-evaluate the account's standing as of today."""
    payment = repo.payment_row(ctx.session, ctx.tenant_id, payment_id)
    if payment is None:
        raise NotFound(
            "Payment {payment} not found.", resource="payment", ids={"payment": payment_id}
        )
    record(
        ctx,
        Event(
            payment.account_id,
            (
                CollectionEventType.PAYMENT_SUCCEEDED
                if succeeded
                else CollectionEventType.PAYMENT_FAILED
            ),
            payment_id=payment.id,
            gateway_code=gateway_code,
            message=message,
            to_value=payment.status,
            details={"paymentNumber": payment.number, "amountMinor": payment.amount_minor},
        ),
    )
    if email and ctx.dispatcher is not None:
        ctx.enqueue(
            "collections.payment_email",
            tenant_id=ctx.tenant_id,
            payment_id=payment.id,
            succeeded=succeeded,
            message=message,
        )
    if not tenant_policy(ctx).dunning_enabled:
        return StandingPass()
    return evaluate_standing(ctx, ctx.clock.today(), account_ids=[payment.account_id])
