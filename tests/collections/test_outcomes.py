"""Payment outcomes through ``on_payment_outcome`` (the hook the charging side calls):
the event with its gateway code, the receipt or failure email through a real SMTP sink,
and the standing moved at once. Also: a Processing payment holds back attempts, and the
end of dunning (auto-cancel, write-off). Both databases."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from billcycle.accounts import service as accounts
from billcycle.clock import FrozenClock
from billcycle.collections import policy
from billcycle.collections.events import account_events
from billcycle.collections.inputs import PolicyChanges
from billcycle.collections.outcomes import on_payment_outcome
from billcycle.collections.statuses import AccountStanding, CollectionEventType
from billcycle.errors import NotFound, RuleViolation
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.ledger import service as ledger
from billcycle.payments import service as payments
from billcycle.payments.inputs import GatewayOutcome, NewPayment
from billcycle.payments.statuses import PaymentType
from billcycle.runtime import Runtime
from tests.collections.helpers import dunning_customer, event_types, move_to, pay_invoice, state
from tests.support.api import Api
from tests.support.smtp import SmtpServer


def test_a_success_emails_a_receipt_and_lifts_the_suspension_at_once(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    clock: FrozenClock,
    smtp_server: SmtpServer,
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"smtp_url": smtp_server.url})
    t = api.tenant.tenant_id
    customer = dunning_customer(api, runtime, jobs)
    move_to(clock, jobs, customer.due_date + timedelta(days=1))
    move_to(clock, jobs, customer.due_date + timedelta(days=8))
    assert state(runtime, t, customer.account_id).subscription_statuses == ["Suspended"]

    payment = pay_invoice(runtime, t, customer, "30")
    with runtime.service_context(t) as ctx:
        moved = on_payment_outcome(ctx, payment.id, True, "approved", "Approved")
    assert moved.good == [customer.account_id]
    assert moved.resumed == [customer.account_id]
    seen = state(runtime, t, customer.account_id)
    assert (seen.standing, seen.subscription_statuses) == (AccountStanding.GOOD, ["Active"])

    jobs.run_until_idle()
    [received] = smtp_server.received
    assert received.rcpt_tos == ["ada@example.com"]
    assert received.message["Subject"] == f"Payment received: {payment.number}"
    assert "30.00 USD" in received.message.get_content()
    with runtime.service_context(t) as ctx:
        events = account_events(ctx, customer.account_id)
    succeeded = [e for e in events if e.event_type == CollectionEventType.PAYMENT_SUCCEEDED]
    assert [(e.payment_id, e.gateway_code) for e in succeeded] == [(payment.id, "approved")]
    assert events[-1].event_type == CollectionEventType.EMAIL_SENT


def test_a_decline_is_recorded_with_its_gateway_code_and_emailed(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    clock: FrozenClock,
    smtp_server: SmtpServer,
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"smtp_url": smtp_server.url})
    t = api.tenant.tenant_id
    customer = dunning_customer(api, runtime, jobs)
    move_to(clock, jobs, customer.due_date + timedelta(days=1))
    with runtime.service_context(t) as ctx:
        payment = payments.create_payment(
            ctx,
            NewPayment(
                account_id=customer.account_id,
                amount=Decimal("30"),
                currency="USD",
                payment_type=PaymentType.ELECTRONIC,
            ),
        )
    with runtime.service_context(t) as ctx:
        payments.settle_payment(
            ctx,
            payment.id,
            GatewayOutcome(succeeded=False, gateway_response_code="card_declined"),
        )
        moved = on_payment_outcome(
            ctx, payment.id, False, "card_declined", "Your card was declined."
        )
    assert moved.good == []
    assert moved.resumed == []
    assert state(runtime, t, customer.account_id).standing == AccountStanding.POOR_STANDING
    jobs.run_until_idle()
    [received] = smtp_server.received
    assert received.message["Subject"] == f"Payment failed: {payment.number}"
    content = received.message.get_content()
    assert "Your card was declined." in content
    # The notice carries a link to the hosted card page, which opens for this account.
    link = content[content.index(runtime.settings.public_url) :].split()[0]
    page = api.client.get(link.removeprefix(runtime.settings.public_url))
    assert page.status_code == 200
    assert 'name="card_number"' in page.text
    with runtime.service_context(t) as ctx:
        failed = [
            e
            for e in account_events(ctx, customer.account_id)
            if e.event_type == CollectionEventType.PAYMENT_FAILED
        ]
    assert [(e.gateway_code, e.to_value) for e in failed] == [("card_declined", "Error")]


def test_an_unknown_payment_is_not_found(runtime: Runtime, api: Api) -> None:
    with pytest.raises(NotFound), runtime.service_context(api.tenant.tenant_id) as ctx:
        on_payment_outcome(ctx, 987654321, True, None, None)


def test_a_processing_payment_holds_back_the_attempt_until_it_settles(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    t = api.tenant.tenant_id
    customer = dunning_customer(api, runtime, jobs)
    move_to(clock, jobs, customer.due_date)
    with runtime.service_context(t) as ctx:
        payment = payments.create_payment(
            ctx,
            NewPayment(
                account_id=customer.account_id,
                amount=Decimal("30"),
                currency="USD",
                payment_type=PaymentType.ELECTRONIC,
            ),
        )
    move_to(clock, jobs, customer.due_date + timedelta(days=1))
    assert ("Attempt", customer.due_date + timedelta(days=1)) not in event_types(
        runtime, t, customer.account_id
    )
    with runtime.service_context(t) as ctx:
        payments.settle_payment(ctx, payment.id, GatewayOutcome(succeeded=False))
    day2 = customer.due_date + timedelta(days=2)
    move_to(clock, jobs, day2)
    assert ("Attempt", day2) in event_types(runtime, t, customer.account_id)


def test_the_end_of_dunning_cancels_and_writes_off(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    t = api.tenant.tenant_id
    customer = dunning_customer(api, runtime, jobs)
    with runtime.service_context(t) as ctx:
        policy.set_policy(
            ctx, PolicyChanges(grace_days=2, auto_cancel_after_days=3, auto_write_off=True)
        )
    due = customer.due_date
    move_to(clock, jobs, due + timedelta(days=1))
    move_to(clock, jobs, due + timedelta(days=3))
    assert state(runtime, t, customer.account_id).suspended_on == due + timedelta(days=3)
    move_to(clock, jobs, due + timedelta(days=5))
    with runtime.service_context(t) as ctx:
        assert accounts.require_account(ctx, customer.account_id).status == "Active"
    assert state(runtime, t, customer.account_id).subscription_statuses == ["Suspended"]
    move_to(clock, jobs, due + timedelta(days=6))
    with runtime.service_context(t) as ctx:
        assert accounts.require_account(ctx, customer.account_id).status == "Canceled"
        assert ledger.invoice_balance(ctx.session, t, customer.invoice_id) == 0
    # The suspended subscription is cancelled with the account, from the cancel day.
    assert state(runtime, t, customer.account_id).subscription_statuses == ["Cancelled"]
    with runtime.service_context(t) as ctx:
        events = account_events(ctx, customer.account_id)
    [suspended] = [e for e in events if e.event_type == "Suspended"]
    [cancelled] = [e for e in events if e.event_type == "Cancelled"]
    assert len(suspended.details["subscriptions"]) == 1
    assert cancelled.details["subscriptions"] == suspended.details["subscriptions"]
    assert cancelled.details["refused"] == {}
    kinds = [kind for kind, _ in event_types(runtime, t, customer.account_id)]
    assert kinds[-2:] == ["Cancelled", "WrittenOff"]
    # Cancelled is the end: nothing more happens.
    move_to(clock, jobs, due + timedelta(days=30))
    assert len(event_types(runtime, t, customer.account_id)) == len(kinds)


def test_write_off_without_cancellation_is_refused(runtime: Runtime, api: Api) -> None:
    t = api.tenant.tenant_id
    with pytest.raises(RuleViolation), runtime.service_context(t) as ctx:
        policy.set_policy(ctx, PolicyChanges(auto_write_off=True))
    with runtime.service_context(t) as ctx:
        assert not policy.policy_for(ctx).auto_write_off


def test_a_runs_outcomes_are_handled_in_one_call(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    clock: FrozenClock,
    smtp_server: SmtpServer,
) -> None:
    from billcycle.collections.outcomes import PaymentOutcome, on_payment_outcomes

    runtime.settings = runtime.settings.model_copy(update={"smtp_url": smtp_server.url})
    t = api.tenant.tenant_id
    customer = dunning_customer(api, runtime, jobs)
    move_to(clock, jobs, customer.due_date + timedelta(days=8))
    first = pay_invoice(runtime, t, customer, "10")
    second = pay_invoice(runtime, t, customer, "20")
    with runtime.service_context(t) as ctx:
        moved = on_payment_outcomes(
            ctx, [PaymentOutcome(first.id, True, "ok"), PaymentOutcome(second.id, True, "ok")]
        )
    assert moved.resumed == [customer.account_id]
    jobs.run_until_idle()
    assert sorted(r.message["Subject"] for r in smtp_server.received) == [
        f"Payment received: {first.number}",
        f"Payment received: {second.number}",
    ]
