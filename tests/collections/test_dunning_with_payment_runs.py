"""The issue's done-when, end to end on both databases: a card on the test gateway
declines; the policy's daily evaluation retries the open invoice through a payment run
on each attempt day as the business clock moves; the account goes PoorStanding, then
Suspended after the grace period (its subscription suspended), and back to Good with
the subscription resumed once a later retry succeeds."""

from __future__ import annotations

from datetime import timedelta

from billcycle.clock import FrozenClock
from billcycle.collections import policy
from billcycle.collections.events import account_events
from billcycle.collections.inputs import PolicyChanges
from billcycle.collections.statuses import AccountStanding, CollectionEventType
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.paymentmethods import repository as methods
from billcycle.runtime import Runtime
from tests.collections.helpers import dunning_customer, move_to, state
from tests.paymentruns.helpers import add_method, balance, default_gateway, payments_of
from tests.support.api import Api


def test_declines_are_retried_by_payment_runs_until_a_retry_pays(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    t = api.tenant.tenant_id
    default_gateway(runtime, t)
    customer = dunning_customer(api, runtime, jobs)
    method_id = add_method(runtime, t, customer.account_id, "tok_chargeDeclined")
    with runtime.service_context(t) as ctx:
        policy.set_policy(ctx, PolicyChanges(attempt_days=(1, 3, 5, 10), grace_days=7))
    due = customer.due_date
    owed = balance(runtime, t, customer.invoice_id)
    assert owed == 3000

    for offset in range(1, 9):
        move_to(clock, jobs, due + timedelta(days=offset))
    statuses = [p.status for p in payments_of(runtime, t)]
    assert statuses == ["Error", "Error", "Error"]  # days 1, 3 and 5, each declined
    assert balance(runtime, t, customer.invoice_id) == owed  # declines leave it open
    seen = state(runtime, t, customer.account_id)
    assert seen.standing == AccountStanding.POOR_STANDING
    assert seen.suspended_on == due + timedelta(days=8)
    assert seen.subscription_statuses == ["Suspended"]
    with runtime.service_context(t) as ctx:
        attempts = [
            e
            for e in account_events(ctx, customer.account_id)
            if e.event_type == CollectionEventType.ATTEMPT
        ]
        method = methods.get_method(ctx.session, t, method_id)
        assert method is not None
        assert method.num_consecutive_failures == 3
        # The customer updates the card (the same method, a new gateway token).
        method.token = "tok_visa"
    assert [e.details["paymentRun"] for e in attempts] == [
        "PR-00000001",
        "PR-00000002",
        "PR-00000003",
    ]

    # Day 9: no attempt day; day 10: the retry is approved and pays the invoice.
    move_to(clock, jobs, due + timedelta(days=9))
    assert len(payments_of(runtime, t)) == 3
    move_to(clock, jobs, due + timedelta(days=10))
    assert [p.status for p in payments_of(runtime, t)][-1] == "Processed"
    assert balance(runtime, t, customer.invoice_id) == 0

    # The next daily evaluation finds nothing overdue: Good, the subscription resumed.
    move_to(clock, jobs, due + timedelta(days=11))
    seen = state(runtime, t, customer.account_id)
    assert (seen.standing, seen.suspended_on) == (AccountStanding.GOOD, None)
    assert seen.subscription_statuses == ["Active"]
    move_to(clock, jobs, due + timedelta(days=20))
    assert len(payments_of(runtime, t)) == 4  # nothing more to collect
