"""What collections does with a payment's outcome: record it, email the customer, and
move the account's standing at once (a paid account is back to Good the same day, its
subscriptions resumed, without waiting for tomorrow's evaluation).

``on_payment_outcome`` is the one hook: whoever learns a payment's outcome (charging, a
payment run, the reconciler, a chargeback) calls it inside the unit of work that
records the outcome, after the payment's status and applications are written. A payment
run's chunk calls ``on_payment_outcomes`` once for all its outcomes (one insert of
events, one standing pass over the accounts concerned); its set-based slice calls
``on_staged_payment_outcomes`` with the payments its settle settled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from billcycle.collections import repository as repo
from billcycle.collections.events import MAX_MESSAGE
from billcycle.collections.policy import tenant_policy
from billcycle.collections.standing import StandingPass, evaluate_standing
from billcycle.context import ServiceContext
from billcycle.errors import NotFound


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    payment_id: int
    succeeded: bool
    gateway_code: str | None = None
    message: str | None = None


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
    of work commits), and re-evaluate the account's standing as of today (when the
    tenant has dunning on)."""
    return on_payment_outcomes(
        ctx, [PaymentOutcome(payment_id, succeeded, gateway_code, message)], email=email
    )


def on_payment_outcomes(
    ctx: ServiceContext, outcomes: Sequence[PaymentOutcome], *, email: bool = True
) -> StandingPass:
    """``on_payment_outcome`` for many payments of the tenant at once: the events in ONE
    ``INSERT ... SELECT`` joined to the payments (a payment run's slice of thousands)."""
    if not outcomes:
        return StandingPass()
    now = ctx.clock.now()
    written = repo.add_payment_outcome_events(
        ctx.session,
        ctx.tenant_id,
        [(o.payment_id, o.succeeded, o.gateway_code, o.message) for o in outcomes],
        day=ctx.clock.date_of(now),
        now=now,
        message_limit=MAX_MESSAGE,
    )
    accounts_of = dict(written)
    for outcome in outcomes:
        if outcome.payment_id not in accounts_of:
            raise NotFound(
                "Payment {payment} not found.",
                resource="payment",
                ids={"payment": outcome.payment_id},
            )
    policy = tenant_policy(ctx)
    # Emails are part of the collections a tenant turned on (dunning_enabled): a tenant
    # that collects by itself sends its own.
    if email and policy.dunning_enabled and ctx.dispatcher is not None:
        # One task for the batch: one mailer session, one insert of EmailSent events.
        ctx.enqueue(
            "collections.payment_emails",
            tenant_id=ctx.tenant_id,
            notices=[[o.payment_id, o.succeeded, o.message] for o in outcomes],
        )
    if not policy.dunning_enabled:
        return StandingPass()
    accounts = sorted(set(accounts_of.values()))
    return evaluate_standing(ctx, ctx.clock.today(), account_ids=accounts)


def on_staged_payment_outcomes(
    ctx: ServiceContext,
    payment_ids: Sequence[int],
    settled: Callable[[], Sequence[tuple[PaymentOutcome, int]]],
    *,
    processed: str,
    email: bool = True,
) -> StandingPass:
    """:func:`on_payment_outcomes` for a payment run's slice, once its settle wrote each
    payment's outcome: the events of ``payment_ids`` (the approved or failed ones), in
    payment id order, from the payments' rows (succeeded when the status is ``processed``;
    the gateway's code and words the settle recorded), in ONE statement with no row built
    in Python; ``settled`` gives (outcome, account id) of each, asked only when the
    tenant's dunning needs them (the emails, the standing pass). The caller locked the
    payments and found them Processing, so each exists."""
    now = ctx.clock.now()
    repo.add_settled_outcome_events(
        ctx.session,
        ctx.tenant_id,
        payment_ids,
        processed=processed,
        day=ctx.clock.date_of(now),
        now=now,
        message_limit=MAX_MESSAGE,
    )
    policy = tenant_policy(ctx)
    if not policy.dunning_enabled:
        return StandingPass()
    found = settled()
    if email and ctx.dispatcher is not None and found:
        ctx.enqueue(
            "collections.payment_emails",
            tenant_id=ctx.tenant_id,
            notices=[[o.payment_id, o.succeeded, o.message] for o, _ in found],
        )
    accounts = sorted({account for _, account in found})
    return evaluate_standing(ctx, ctx.clock.today(), account_ids=accounts)
