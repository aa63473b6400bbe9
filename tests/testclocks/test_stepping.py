"""A test clock steps only to the instants where something is due (a bill run, a payment
run, a collections day with a due date, an attempt day, a grace period's end, the day
after work ran), not to every midnight. What it leaves must be what a day-by-day advance
leaves: the same invoices, payments, standings, suspensions, cancellations, write-offs,
collections events (with their business dates), emails and evaluated-day watermark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from billcycle.accounts.models import Account, Contact
from billcycle.clock import FrozenClock
from billcycle.collections import policy
from billcycle.collections.inputs import AccountOverrides, PolicyChanges
from billcycle.collections.models import CollectionAccount, CollectionEvent, CollectionPolicyRow
from billcycle.runtime import Runtime
from billcycle.testclocks import service as clocks
from tests.billruns.helpers import customers
from tests.paymentruns.helpers import add_method, default_gateway, set_auto_pay
from tests.support.api import Api
from tests.testclocks.helpers import (
    DECLINING,
    GOOD,
    sandbox,
    schedule_monthly_bill_runs,
    snapshot,
)

TOKENS = (GOOD, GOOD, DECLINING, DECLINING)


def _dunning_tenant(runtime: Runtime, api: Api) -> list[int]:
    """Four auto-pay customers with an email address on $30 monthly plans from
    2026-01-01 (two good cards, two that decline; one declining account attempts on its
    own days 2 and 4), a monthly bill run that auto-posts, and dunning with a short
    grace period: suspended 7 days after falling overdue, cancelled 10 days later, its
    invoices written off."""
    t = api.tenant.tenant_id
    default_gateway(runtime, t)
    accounts = [account_id for account_id, _ in customers(api, runtime, len(TOKENS), price="30")]
    for account_id, token in zip(accounts, TOKENS, strict=True):
        set_auto_pay(runtime, t, account_id)
        add_method(runtime, t, account_id, token)
    with runtime.service_context(t) as ctx:
        now = ctx.clock.now()
        for number, account_id in enumerate(accounts):
            contact = Contact(
                tenant_id=t,
                account_id=account_id,
                first_name="Payer",
                last_name=str(number),
                work_email=f"payer{number}@example.com",
                created_at=now,
                updated_at=now,
            )
            ctx.session.add(contact)
            ctx.session.flush()
            account = ctx.session.get(Account, account_id)
            assert account is not None
            account.bill_to_contact_id = contact.id
        policy.set_policy(
            ctx,
            PolicyChanges(
                dunning_enabled=True,
                attempt_days=(1, 3, 5),
                grace_days=7,
                auto_cancel_after_days=10,
                auto_write_off=True,
                max_consecutive_failures=100,
            ),
        )
        policy.set_account_overrides(ctx, accounts[3], AccountOverrides(attempt_days=(2, 4)))
    schedule_monthly_bill_runs(api)
    return accounts


def _collections(runtime: Runtime, tenant_id: int) -> dict[str, Any]:
    """Collections' own rows, by what a person reads: each account's standing and dates,
    the sent emails (to, subject, business date) and the evaluated-day watermark."""
    with runtime.service_context(tenant_id) as ctx:
        s = ctx.session
        number = {
            a.id: a.account_number
            for a in s.scalars(select(Account).where(Account.tenant_id == tenant_id))
        }
        rows = [
            (
                number[r.account_id],
                r.standing,
                r.poor_standing_since,
                r.suspended_on,
                r.cancelled_on,
                len(r.suspended_subscriptions or []),
            )
            for r in s.scalars(
                select(CollectionAccount)
                .where(CollectionAccount.tenant_id == tenant_id)
                .order_by(CollectionAccount.account_id)
            )
        ]
        emails = [
            (number[e.account_id], e.business_date, e.message, e.details["to"], e.occurred_at)
            for e in s.scalars(
                select(CollectionEvent)
                .where(
                    CollectionEvent.tenant_id == tenant_id,
                    CollectionEvent.event_type == "EmailSent",
                )
                .order_by(CollectionEvent.id)
            )
        ]
        transitions = [
            (number[e.account_id], e.event_type, e.business_date, e.from_value, e.to_value)
            for e in s.scalars(
                select(CollectionEvent)
                .where(CollectionEvent.tenant_id == tenant_id)
                .order_by(CollectionEvent.id)
            )
        ]
        watermark = s.scalar(
            select(CollectionPolicyRow.evaluated_on).where(
                CollectionPolicyRow.tenant_id == tenant_id
            )
        )
    return {"rows": rows, "emails": emails, "transitions": transitions, "watermark": watermark}


def test_a_clock_advanced_across_due_dates_does_what_a_day_by_day_advance_does(
    app: FastAPI, runtime: Runtime, clock: FrozenClock
) -> None:
    with TestClient(app) as client:
        at_once = sandbox(runtime, client, "steps-at-once")
        daily = sandbox(runtime, client, "steps-day-by-day")
        _dunning_tenant(runtime, at_once)
        _dunning_tenant(runtime, daily)
    one, other = at_once.tenant.tenant_id, daily.tenant.tenant_id
    # 100 days and 5 hours: across three bill runs, their due dates, the attempt days,
    # the grace periods and the cancellations, ending in the middle of a day.
    by = timedelta(days=100, hours=5)
    done = clocks.advance_by(runtime, one, by)
    for _ in range(100):
        clocks.advance_by(runtime, other, timedelta(days=1))
    clocks.advance_by(runtime, other, timedelta(hours=5))
    assert done.now == clock.now() + by

    assert snapshot(runtime, one) == snapshot(runtime, other)
    mine, theirs = _collections(runtime, one), _collections(runtime, other)
    assert mine == theirs
    # It did step over days: fewer collections days evaluated than days crossed.
    assert done.days == 100
    assert 0 < done.evaluations < done.days // 2
    assert done.steps < done.days // 2
    # And what it left is dunning's whole story, not an empty one.
    kinds = {kind for _, kind, *_ in mine["transitions"]}
    assert {"StandingChanged", "Suspended", "Cancelled", "WrittenOff", "EmailSent"} <= kinds
    cancelled = [row for row in mine["rows"] if row[4] is not None]
    assert len(cancelled) == 2  # the two declining cards, on their own attempt days
    assert len(mine["emails"]) >= 4
    assert mine["watermark"] == (clock.now() + by).date()


def test_an_advance_that_ends_before_anything_is_due_evaluates_its_first_day_only(
    app: FastAPI, runtime: Runtime, clock: FrozenClock
) -> None:
    with TestClient(app) as client:
        api = sandbox(runtime, client, "steps-quiet")
        _dunning_tenant(runtime, api)
    t = api.tenant.tenant_id
    # 2026-01-10 09:00 -> 2026-01-20 09:00: no bill run (the first is on Feb 1), nothing owed.
    done = clocks.advance_by(runtime, t, timedelta(days=10))
    assert (done.days, done.evaluations, done.bill_runs, done.payment_runs) == (10, 1, 0, 0)
    # The first midnight, then the end (the watermark left where a daily advance leaves it).
    assert done.steps == 2
    assert _collections(runtime, t)["watermark"] == datetime(2026, 1, 20, tzinfo=UTC).date()
