"""Dunning as the business clock moves, on both databases: an unpaid invoice is retried
on the policy's days, the account goes PoorStanding the day after the due date, is
Suspended once the grace period is over (its subscription suspended and not billed by a
bill run), and is back to Good, its subscription resumed, once the invoice is paid."""

from __future__ import annotations

from datetime import date, timedelta

from billcycle.clock import FrozenClock
from billcycle.collections import attempts, policy
from billcycle.collections.inputs import AccountOverrides, PolicyChanges
from billcycle.collections.statuses import AccountStanding, CollectionEventType
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.billruns.helpers import create_run
from tests.collections.helpers import (
    billed_periods,
    dunning_customer,
    enable_dunning,
    event_types,
    move_to,
    pay_invoice,
    state,
)
from tests.support.api import Api

ATTEMPT = CollectionEventType.ATTEMPT


def attempt_days(runtime: Runtime, tenant_id: int, account_id: int) -> list[date]:
    return [day for kind, day in event_types(runtime, tenant_id, account_id) if kind == ATTEMPT]


def test_declined_invoice_is_retried_then_suspended_then_good_when_paid(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    t = api.tenant.tenant_id
    customer = dunning_customer(api, runtime, jobs)
    due = customer.due_date
    assert due == date(2026, 2, 9)  # Net 30 from 2026-01-10
    with runtime.service_context(t) as ctx:
        policy.set_policy(ctx, PolicyChanges(grace_days=7))

    # On the due date nothing is overdue yet.
    move_to(clock, jobs, due)
    assert state(runtime, t, customer.account_id).standing == AccountStanding.GOOD
    assert attempt_days(runtime, t, customer.account_id) == []

    # Day by day: attempts on days 1, 3 and 5 after the due date, PoorStanding from day 1.
    for offset in range(1, 8):
        move_to(clock, jobs, due + timedelta(days=offset))
        move_to(clock, jobs, due + timedelta(days=offset), hour=20)  # a second tick: no-op
        seen = state(runtime, t, customer.account_id)
        assert seen.standing == AccountStanding.POOR_STANDING
        assert seen.suspended_on is None
        assert seen.subscription_statuses == ["Active"]
    assert attempt_days(runtime, t, customer.account_id) == [
        due + timedelta(days=1),
        due + timedelta(days=3),
        due + timedelta(days=5),
    ]

    # Poor standing since day 1 outlasts seven days of grace on day 8: suspended.
    suspended_day = due + timedelta(days=8)
    move_to(clock, jobs, suspended_day)
    seen = state(runtime, t, customer.account_id)
    assert (seen.standing, seen.suspended_on) == (AccountStanding.POOR_STANDING, suspended_day)
    assert seen.subscription_statuses == ["Suspended"]

    # A bill run for March does not bill the suspended subscription's March.
    move_to(clock, jobs, date(2026, 3, 1))
    create_run(api, targetDate="2026-03-01", autoPost=True)
    jobs.run_until_idle()
    periods = billed_periods(runtime, t, customer.account_id)
    assert not [start for start, credit in periods if start >= date(2026, 3, 1) and not credit]

    # Paid: back to Good the next day, the subscription resumed and billed again.
    pay_invoice(runtime, t, customer, "30")
    paid_day = date(2026, 3, 2)
    move_to(clock, jobs, paid_day)
    seen = state(runtime, t, customer.account_id)
    assert seen.standing == AccountStanding.GOOD
    assert seen.suspended_on is None
    assert seen.subscription_statuses == ["Active"]
    kinds = [kind for kind, _ in event_types(runtime, t, customer.account_id)]
    assert kinds == [
        "StandingChanged",
        "Attempt",
        "Attempt",
        "Attempt",
        "Suspended",
        "Resumed",
        "StandingChanged",
    ]
    create_run(api, targetDate="2026-04-01", autoPost=True)
    jobs.run_until_idle()
    periods = billed_periods(runtime, t, customer.account_id)
    assert [start for start, credit in periods if start >= paid_day and not credit]
    # No further attempts once paid.
    move_to(clock, jobs, date(2026, 3, 20))
    assert len(attempt_days(runtime, t, customer.account_id)) == 3


def test_missed_days_get_one_catch_up_attempt(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    t = api.tenant.tenant_id
    customer = dunning_customer(api, runtime, jobs)
    # The scheduler was down from the due date until day 4: one attempt (for day 3) on day 4.
    move_to(clock, jobs, customer.due_date + timedelta(days=4))
    assert attempt_days(runtime, t, customer.account_id) == [customer.due_date + timedelta(days=4)]
    move_to(clock, jobs, customer.due_date + timedelta(days=5))
    assert len(attempt_days(runtime, t, customer.account_id)) == 2


def test_exempt_and_manual_collection_accounts_are_left_alone(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    t = api.tenant.tenant_id
    customer = dunning_customer(api, runtime, jobs)
    with runtime.service_context(t) as ctx:
        policy.set_account_overrides(
            ctx, customer.account_id, AccountOverrides(dunning_exempt=True)
        )
    for offset in (1, 3, 20):
        move_to(clock, jobs, customer.due_date + timedelta(days=offset))
    seen = state(runtime, t, customer.account_id)
    assert (seen.standing, seen.subscription_statuses) == (AccountStanding.GOOD, ["Active"])
    assert event_types(runtime, t, customer.account_id) == []
    # The manual flag shows as Collection and stops automatic attempts.
    with runtime.service_context(t) as ctx:
        policy.set_account_overrides(
            ctx,
            customer.account_id,
            AccountOverrides(dunning_exempt=False, in_collection=True),
        )
    move_to(clock, jobs, customer.due_date + timedelta(days=21))
    assert state(runtime, t, customer.account_id).standing == AccountStanding.COLLECTION
    assert attempt_days(runtime, t, customer.account_id) == []


def test_account_override_of_attempt_days_and_the_attempt_list(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    t = api.tenant.tenant_id
    customer = dunning_customer(api, runtime, jobs)
    with runtime.service_context(t) as ctx:
        policy.set_account_overrides(ctx, customer.account_id, AccountOverrides(attempt_days=(2,)))
    day2 = customer.due_date + timedelta(days=2)
    clock.set(clock.now() + (day2 - clock.today()) * 1)
    with runtime.service_context(t) as ctx:
        assert attempts.schedule_attempts(ctx, customer.due_date + timedelta(days=1)) == []
        assert attempts.schedule_attempts(ctx, day2) == [(customer.account_id, customer.invoice_id)]
        assert attempts.schedule_attempts(ctx, day2) == []  # once per attempt day


def test_a_subscription_started_while_suspended_is_suspended_too(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    t = api.tenant.tenant_id
    customer = dunning_customer(api, runtime, jobs)
    move_to(clock, jobs, customer.due_date + timedelta(days=8))
    assert state(runtime, t, customer.account_id).subscription_statuses == ["Suspended"]
    with runtime.service_context(t) as ctx:
        from billcycle.accounts import service as accounts
        from tests.invoicing.factories import make_subscription

        make_subscription(
            ctx, accounts.require_account(ctx, customer.account_id), start=date(2026, 2, 1)
        )
    move_to(clock, jobs, customer.due_date + timedelta(days=9))
    assert state(runtime, t, customer.account_id).subscription_statuses == [
        "Suspended",
        "Suspended",
    ]
    pay_invoice(runtime, t, customer, "30")
    move_to(clock, jobs, customer.due_date + timedelta(days=10))
    assert state(runtime, t, customer.account_id).subscription_statuses == ["Active", "Active"]


def test_each_tenant_is_evaluated_on_its_own_business_date(
    runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    from datetime import UTC, datetime

    from billcycle.db.session import unit_of_work
    from billcycle.jobs.dispatch import TaskCall
    from billcycle.tenancy.service import create_tenant
    from tests.payments.helpers import posted_invoices

    with unit_of_work(runtime.session_factory) as session:
        utc = create_tenant(session, runtime.clock, "in UTC").tenant_id
        auckland = create_tenant(
            session, runtime.clock, "in Auckland", time_zone="Pacific/Auckland"
        ).tenant_id
    billed = {t: posted_invoices(runtime, t, ["10"]) for t in (utc, auckland)}
    for t in (utc, auckland):
        enable_dunning(runtime, t)
    with runtime.service_context(utc) as ctx:
        from billcycle.invoicing import repository as invoices

        invoice = invoices.get_invoice(ctx.session, utc, billed[utc].invoice_ids[0])
        assert invoice is not None
        due = invoice.due_date
    # Noon UTC on the due date is already the next day in Auckland: overdue there only.
    clock.set(datetime.combine(due, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12))
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    assert state(runtime, utc, billed[utc].account_id).standing == AccountStanding.GOOD
    assert (
        state(runtime, auckland, billed[auckland].account_id).standing
        == AccountStanding.POOR_STANDING
    )
    assert event_types(runtime, auckland, billed[auckland].account_id) == [
        ("StandingChanged", due + timedelta(days=1))
    ]


def test_dunning_is_off_until_the_tenant_turns_it_on(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    t = api.tenant.tenant_id
    customer = dunning_customer(api, runtime, jobs)
    with runtime.service_context(t) as ctx:
        policy.set_policy(ctx, PolicyChanges(dunning_enabled=False))
    for offset in (1, 3, 20):
        move_to(clock, jobs, customer.due_date + timedelta(days=offset))
    assert event_types(runtime, t, customer.account_id) == []
    assert state(runtime, t, customer.account_id).subscription_statuses == ["Active"]
    with runtime.service_context(t) as ctx:
        policy.set_policy(ctx, PolicyChanges(dunning_enabled=True))
    move_to(clock, jobs, customer.due_date + timedelta(days=21))
    seen = state(runtime, t, customer.account_id)
    assert seen.subscription_statuses == ["Suspended"]  # 20 days in poor standing > 7


def test_a_day_is_evaluated_once(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    from billcycle.collections import daily

    t = api.tenant.tenant_id
    customer = dunning_customer(api, runtime, jobs)
    day = customer.due_date + timedelta(days=1)
    clock.set(clock.now() + (day - clock.today()))
    with runtime.service_context(t) as ctx:
        first = daily.run_day(ctx, day)
    assert first is not None
    assert first.attempts == [(customer.account_id, customer.invoice_id)]
    assert first.payment_run_number is not None
    with runtime.service_context(t) as ctx:
        assert daily.run_day(ctx, day) is None  # claimed already
        assert daily.run_day(ctx, day - timedelta(days=1)) is None  # an earlier day too
