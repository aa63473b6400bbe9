"""The subscriptions service: segments, dates, terms and their hand-off to rating."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from billcycle.context import ServiceContext
from billcycle.db.session import unit_of_work
from billcycle.errors import DomainError, InvalidValue, MissingField, NotFound, RuleViolation
from billcycle.ids import to_zuora_id
from billcycle.rating import BillingTiming, ChargeModel, rate_charge
from billcycle.runtime import Runtime
from billcycle.subscriptions import amendments, lifecycle, service, views
from billcycle.subscriptions.inputs import (
    Cancellation,
    ChargeOverride,
    ChargeUpdate,
    NewSubscription,
    ObjectKey,
    RatePlanAddition,
    RatePlanInput,
    RatePlanRemoval,
    RatePlanUpdate,
    Resumption,
    SubscriptionChanges,
    Suspension,
    TierInput,
)
from billcycle.subscriptions.models import Subscription, SubscriptionCharge
from billcycle.subscriptions.rating_view import to_charge_terms
from billcycle.tenancy.service import NewTenant, create_tenant
from tests.subscriptions.factories import (
    ChargeSpec,
    Setup,
    TierSpec,
    add_account,
    add_rate_plan,
    flat,
    per_unit,
    setup_in,
    tiered,
)

D = Decimal


def key(value: int | str) -> ObjectKey:
    if isinstance(value, int):
        return ObjectKey(id=value, text=to_zuora_id(value))
    return ObjectKey(id=None, text=value)


def new_sub(data: Setup, *overrides: ChargeOverride, **fields: Any) -> NewSubscription:
    values: dict[str, Any] = {
        "account": key(data.account_number),
        "contract_effective_date": date(2026, 1, 1),
        "term_type": "TERMED",
        "initial_term": 12,
        "renewal_term": 12,
        "auto_renew": True,
        "rate_plans": (RatePlanInput(key(data.plan.rate_plan_id), tuple(overrides)),),
    }
    values.update(fields)
    return NewSubscription(**values)


def charges_of(sub: Subscription) -> list[SubscriptionCharge]:
    return sorted(
        (c for rp in sub.rate_plans for c in rp.charges),
        key=lambda c: (c.charge_number, c.segment),
    )


@pytest.fixture
def ctx(runtime: Runtime, tenant: NewTenant) -> Any:
    with runtime.service_context(tenant.tenant_id) as context:
        yield context


def test_create_makes_segment_one_of_each_charge(ctx: ServiceContext) -> None:
    data = setup_in(ctx, flat("100"), per_unit("7.5", default_quantity="3"))
    sub = service.create_subscription(ctx, new_sub(data))
    assert sub.subscription_number == "A-S00000001"
    assert sub.status == "Active"
    assert sub.version == 1
    assert (sub.term_start_date, sub.term_end_date) == (date(2026, 1, 1), date(2027, 1, 1))
    assert sub.subscription_end_date == date(2027, 1, 1)
    fee, seats = charges_of(sub)
    assert (fee.charge_number, seats.charge_number) == ("C-00000001", "C-00000002")
    for charge in (fee, seats):
        assert charge.segment == 1
        assert charge.is_last_segment
        assert charge.effective_start_date == date(2026, 1, 1)
        assert charge.effective_end_date == date(2027, 1, 1)
        assert charge.billed_through is None
        assert charge.bill_cycle_day is None
        assert charge.currency == "USD"
    assert (fee.price, fee.charge_model) == (D("100"), ChargeModel.FlatFee.value)
    assert (seats.price, seats.quantity) == (D("7.5"), D("3"))
    assert views.metrics(sub, "USD") == views.Metrics(D("122.50"), D("1470.00"))
    second = service.create_subscription(ctx, new_sub(data))
    assert second.subscription_number == "A-S00000002"
    assert charges_of(second)[0].charge_number == "C-00000003"


def test_price_comes_from_the_account_currency(ctx: ServiceContext) -> None:
    data = setup_in(ctx, ChargeSpec(), currency="EUR")
    sub = service.create_subscription(ctx, new_sub(data))
    (charge,) = charges_of(sub)
    assert (charge.currency, charge.price) == ("EUR", D("90"))

    gbp = add_account(ctx.session, ctx.tenant_id, currency="GBP")
    with pytest.raises(InvalidValue, match="GBP"):
        service.create_subscription(ctx, new_sub(data, account=key(gbp.id)))


def test_trigger_events_pick_the_start(ctx: ServiceContext) -> None:
    data = setup_in(
        ctx,
        flat("10", name="on contract"),
        flat("20", name="on activation", trigger_event="ServiceActivation"),
        flat("30", name="on acceptance", trigger_event="CustomerAcceptance"),
    )
    with pytest.raises(MissingField, match="serviceActivationDate"):
        service.create_subscription(ctx, new_sub(data))
    sub = service.create_subscription(
        ctx,
        new_sub(
            data,
            service_activation_date=date(2026, 1, 15),
            customer_acceptance_date=date(2026, 2, 1),
        ),
    )
    starts = [c.effective_start_date for c in charges_of(sub)]
    assert starts == [date(2026, 1, 1), date(2026, 1, 15), date(2026, 2, 1)]
    assert {c.effective_end_date for c in charges_of(sub)} == {date(2027, 1, 1)}


def test_evergreen_has_no_end(ctx: ServiceContext) -> None:
    data = setup_in(ctx, flat("100"))
    sub = service.create_subscription(ctx, new_sub(data, term_type="EVERGREEN", initial_term=None))
    assert sub.term_end_date is None
    assert sub.current_term is None
    assert charges_of(sub)[0].effective_end_date is None
    assert views.metrics(sub, "USD") == views.Metrics(D("100.00"), None)


def test_termed_needs_an_initial_term(ctx: ServiceContext) -> None:
    data = setup_in(ctx, flat("100"))
    with pytest.raises(MissingField, match="initialTerm"):
        service.create_subscription(ctx, new_sub(data, initial_term=None))
    with pytest.raises(InvalidValue):
        service.create_subscription(ctx, new_sub(data, term_type="FOREVER"))


def test_term_from_jan_31_in_a_leap_year(ctx: ServiceContext) -> None:
    data = setup_in(ctx, flat("100"))
    sub = service.create_subscription(
        ctx, new_sub(data, contract_effective_date=date(2028, 1, 31), initial_term=1)
    )
    assert sub.term_end_date == date(2028, 2, 29)
    assert charges_of(sub)[0].effective_end_date == date(2028, 2, 29)


def test_bill_cycle_days_are_resolved_and_kept(ctx: ServiceContext) -> None:
    data = setup_in(
        ctx,
        flat("10", name="account day"),
        flat("10", name="fixed", bill_cycle_type="SpecificDayofMonth", bill_cycle_day=15),
        flat("10", name="sub start", bill_cycle_type="SubscriptionStartDay"),
        flat(
            "10",
            name="trigger",
            bill_cycle_type="ChargeTriggerDay",
            trigger_event="ServiceActivation",
        ),
        flat("10", name="weekly", billing_period="Week"),
        bill_cycle_day=5,
    )
    sub = service.create_subscription(
        ctx,
        new_sub(
            data,
            contract_effective_date=date(2026, 1, 20),
            service_activation_date=date(2026, 1, 22),
        ),
    )
    account_day, fixed, sub_start, trigger, weekly = charges_of(sub)
    assert [c.bill_cycle_day for c in (account_day, fixed, sub_start, trigger)] == [
        None,
        15,
        20,
        22,
    ]
    assert weekly.weekly_bill_cycle_day == "Tuesday"  # 2026-01-20 is a Tuesday
    assert to_charge_terms(account_day, 5).bill_cycle_day == 5
    assert to_charge_terms(fixed, 5).bill_cycle_day == 15
    assert to_charge_terms(weekly, 5).weekly_bill_cycle_day == 1


def test_overrides(ctx: ServiceContext) -> None:
    data = setup_in(ctx, per_unit("5"), tiered())
    seats, tiers = data.plan.charge_ids
    sub = service.create_subscription(
        ctx,
        new_sub(
            data,
            ChargeOverride(
                key(seats), price=D("4.25"), quantity=D("10"), billing_timing="IN_ARREARS"
            ),
            ChargeOverride(
                key(tiers),
                tiers=(
                    TierInput(1, D("8"), D("0"), D("10")),
                    TierInput(2, D("2"), None, None),
                ),
                quantity=D("12"),
            ),
        ),
    )
    seat_charge, tier_charge = charges_of(sub)
    assert (seat_charge.price, seat_charge.quantity) == (D("4.25"), D("10"))
    assert seat_charge.billing_timing == BillingTiming.InArrears.value
    assert tier_charge.price is None
    assert [(t.starting_unit, t.ending_unit, t.price) for t in tier_charge.tiers] == [
        (D("0"), D("10"), D("8")),
        (D("11"), None, D("2")),
    ]
    # 10 units at 8 plus 2 at 2
    assert views.metrics(sub, "USD").mrr == D("42.50") + D("84")


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"price": D("1.0000000001")}, "decimal places"),
        ({"quantity": D("-1")}, "negative"),
        ({"price": D("1e20")}, "too large"),
        ({"bill_cycle_day": 12}, "billCycleDay"),
        ({"billing_period": "Fortnight"}, "billingPeriod"),
        ({"trigger_event": "SpecificDate"}, "triggerDate"),
        ({"end_date_condition": "Fixed_Period"}, "endDateCondition"),
    ],
)
def test_bad_overrides(ctx: ServiceContext, override: dict[str, Any], error: str) -> None:
    data = setup_in(ctx, per_unit("5"))
    with pytest.raises(DomainError, match=error):
        service.create_subscription(
            ctx, new_sub(data, ChargeOverride(key(data.plan.charge_ids[0]), **override))
        )


def test_override_of_a_charge_from_another_plan(ctx: ServiceContext) -> None:
    data = setup_in(ctx, flat("100"))
    other = add_rate_plan(ctx.session, ctx.tenant_id, flat("5"))
    with pytest.raises(InvalidValue, match="productRatePlanChargeId"):
        service.create_subscription(
            ctx, new_sub(data, ChargeOverride(key(other.charge_ids[0]), price=D("1")))
        )


def test_unknown_account_and_rate_plan(ctx: ServiceContext) -> None:
    data = setup_in(ctx, flat("100"))
    with pytest.raises(InvalidValue, match="accountKey"):
        service.create_subscription(ctx, new_sub(data, account=key("A99999999")))
    with pytest.raises(InvalidValue, match="productRatePlanId"):
        service.create_subscription(ctx, new_sub(data, rate_plans=(RatePlanInput(key(999_999)),)))


def test_a_volume_quantity_outside_every_tier_is_refused(ctx: ServiceContext) -> None:
    spec = ChargeSpec(
        charge_model="Volume Pricing",
        default_quantity="5",
        prices={"USD": [TierSpec("3", "0", "10")]},
    )
    data = setup_in(ctx, spec)
    with pytest.raises(InvalidValue, match="cannot be priced"):
        service.create_subscription(
            ctx, new_sub(data, ChargeOverride(key(data.plan.charge_ids[0]), quantity=D("50")))
        )


def _update_price(sub: Subscription, on: date, **values: Any) -> SubscriptionChanges:
    rate_plan = sub.rate_plans[0]
    charge = rate_plan.charges[0]
    return SubscriptionChanges(
        update=(
            RatePlanUpdate(
                key(rate_plan.id),
                contract_effective_date=on,
                charge_updates=(ChargeUpdate(key(charge.id), **values),),
            ),
        )
    )


def test_price_change_starts_a_segment_and_rating_credits_the_old_one(
    ctx: ServiceContext,
) -> None:
    data = setup_in(ctx, flat("100"))
    sub = service.create_subscription(ctx, new_sub(data))
    (first,) = charges_of(sub)
    first.billed_through = date(2026, 4, 1)  # a bill run billed Jan-Mar
    result = amendments.update_subscription(
        ctx, key(sub.id), _update_price(sub, date(2026, 3, 15), price=D("160"))
    )
    assert result.subscription.version == 2
    old, new = charges_of(sub)
    assert (old.segment, old.is_last_segment) == (1, False)
    assert (old.effective_start_date, old.effective_end_date) == (
        date(2026, 1, 1),
        date(2026, 3, 15),
    )
    assert old.price == D("100")
    assert old.billed_through == date(2026, 4, 1)
    assert (new.segment, new.is_last_segment, new.charge_number) == (2, True, old.charge_number)
    assert (new.effective_start_date, new.effective_end_date) == (
        date(2026, 3, 15),
        date(2027, 1, 1),
    )
    assert new.price == D("160")
    assert new.billed_through is None
    assert result.delta.mrr == D("60.00")

    ctx.session.flush()
    credit = rate_charge(to_charge_terms(old, 1), date(2026, 4, 1))
    assert [(i.service_start, i.service_end, i.amount) for i in credit.items] == [
        (date(2026, 3, 15), date(2026, 4, 1), D("-54.84"))
    ]
    bill = rate_charge(to_charge_terms(new, 1), date(2026, 4, 1))
    assert [(i.service_start, i.service_end, i.amount) for i in bill.items] == [
        (date(2026, 3, 15), date(2026, 4, 1), D("87.74")),
        (date(2026, 4, 1), date(2026, 5, 1), D("160.00")),
    ]


def test_change_on_an_unbilled_segment_start_keeps_one_segment(ctx: ServiceContext) -> None:
    data = setup_in(ctx, per_unit("5"))
    sub = service.create_subscription(ctx, new_sub(data))
    amendments.update_subscription(
        ctx, key(sub.id), _update_price(sub, date(2026, 1, 1), quantity=D("4"))
    )
    (charge,) = charges_of(sub)
    assert (charge.segment, charge.quantity) == (1, D("4"))


def test_changes_out_of_order_or_after_the_end_are_refused(ctx: ServiceContext) -> None:
    data = setup_in(ctx, per_unit("5"))
    sub = service.create_subscription(ctx, new_sub(data))
    amendments.update_subscription(
        ctx, key(sub.id), _update_price(sub, date(2026, 6, 1), quantity=D("2"))
    )
    with pytest.raises(RuleViolation, match="segment starts"):
        amendments.update_subscription(
            ctx, key(sub.id), _update_price(sub, date(2026, 3, 1), quantity=D("3"))
        )
    with pytest.raises(InvalidValue, match="after the current term"):
        amendments.update_subscription(
            ctx, key(sub.id), _update_price(sub, date(2027, 2, 1), quantity=D("3"))
        )
    with pytest.raises(InvalidValue, match="Nothing to update"):
        amendments.update_subscription(ctx, key(sub.id), _update_price(sub, date(2026, 7, 1)))


def test_remove_and_add_rate_plans(ctx: ServiceContext) -> None:
    data = setup_in(ctx, flat("100"))
    sub = service.create_subscription(ctx, new_sub(data))
    extra = add_rate_plan(ctx.session, ctx.tenant_id, flat("30"), name="Add-on")
    rate_plan_id = sub.rate_plans[0].id
    result = amendments.update_subscription(
        ctx,
        key(sub.id),
        SubscriptionChanges(
            remove=(RatePlanRemoval(key(rate_plan_id), date(2026, 5, 1)),),
            add=(RatePlanAddition(RatePlanInput(key(extra.rate_plan_id)), date(2026, 5, 1)),),
        ),
    )
    removed, added = sub.rate_plans
    assert removed.removed_date == date(2026, 5, 1)
    assert removed.charges[0].effective_end_date == date(2026, 5, 1)
    assert added.charges[0].effective_start_date == date(2026, 5, 1)
    assert added.charges[0].effective_end_date == date(2027, 1, 1)
    assert result.delta.mrr == D("-70.00")
    with pytest.raises(RuleViolation, match="already been removed"):
        amendments.update_subscription(
            ctx,
            key(sub.id),
            SubscriptionChanges(remove=(RatePlanRemoval(key(rate_plan_id), date(2026, 6, 1)),)),
        )


def test_term_changes_move_charge_ends(ctx: ServiceContext) -> None:
    data = setup_in(ctx, flat("100"))
    sub = service.create_subscription(ctx, new_sub(data))
    amendments.update_subscription(ctx, key(sub.id), SubscriptionChanges(current_term=6))
    assert sub.term_end_date == date(2026, 7, 1)
    assert charges_of(sub)[0].effective_end_date == date(2026, 7, 1)
    amendments.update_subscription(ctx, key(sub.id), SubscriptionChanges(term_type="EVERGREEN"))
    assert sub.term_end_date is None
    assert charges_of(sub)[0].effective_end_date is None
    with pytest.raises(MissingField, match="currentTerm"):
        amendments.update_subscription(ctx, key(sub.id), SubscriptionChanges(term_type="TERMED"))
    amendments.update_subscription(
        ctx,
        key(sub.id),
        SubscriptionChanges(term_type="TERMED", current_term=2, current_term_period_type="Year"),
    )
    assert sub.term_end_date == date(2028, 1, 1)
    assert charges_of(sub)[0].effective_end_date == date(2028, 1, 1)
    assert sub.version == 4


@pytest.mark.parametrize(
    ("cancellation", "expected"),
    [
        (Cancellation("EndOfCurrentTerm"), date(2027, 1, 1)),
        (Cancellation("SpecificDate", date(2026, 2, 10)), date(2026, 2, 10)),
        (Cancellation("EndOfLastInvoicePeriod"), date(2026, 3, 1)),
    ],
)
def test_cancel_policies(ctx: ServiceContext, cancellation: Cancellation, expected: date) -> None:
    data = setup_in(
        ctx, flat("100"), flat("5", name="setup", charge_type="OneTime", billing_period=None)
    )
    sub = service.create_subscription(ctx, new_sub(data))
    recurring, one_time = charges_of(sub)
    recurring.billed_through = date(2026, 3, 1)
    result = lifecycle.cancel_subscription(ctx, key(sub.subscription_number), cancellation)
    assert sub.status == "Cancelled"
    assert sub.cancelled_date == expected
    assert sub.subscription_end_date == expected
    assert recurring.effective_end_date == min(date(2027, 1, 1), expected)
    assert one_time.effective_end_date == date(2026, 1, 2)
    assert result.delta.mrr == D("-100.00")
    with pytest.raises(RuleViolation, match="Cancelled"):
        lifecycle.cancel_subscription(ctx, key(sub.id), cancellation)


def test_cancel_needs_a_date_and_a_term(ctx: ServiceContext) -> None:
    data = setup_in(ctx, flat("100"))
    sub = service.create_subscription(ctx, new_sub(data))
    with pytest.raises(MissingField, match="cancellationEffectiveDate"):
        lifecycle.cancel_subscription(ctx, key(sub.id), Cancellation("SpecificDate"))
    with pytest.raises(InvalidValue, match="before the subscription starts"):
        lifecycle.cancel_subscription(
            ctx, key(sub.id), Cancellation("SpecificDate", date(2025, 1, 1))
        )
    with pytest.raises(InvalidValue, match="cancellationPolicy"):
        lifecycle.cancel_subscription(ctx, key(sub.id), Cancellation("Whenever"))
    evergreen = service.create_subscription(
        ctx, new_sub(data, term_type="EVERGREEN", initial_term=None)
    )
    with pytest.raises(RuleViolation, match="EVERGREEN"):
        lifecycle.cancel_subscription(ctx, key(evergreen.id), Cancellation("EndOfCurrentTerm"))
    assert evergreen.status == "Active"


def test_suspend_and_resume_extending_the_term(ctx: ServiceContext) -> None:
    data = setup_in(ctx, flat("100"))
    sub = service.create_subscription(ctx, new_sub(data))
    (first,) = charges_of(sub)
    first.billed_through = date(2026, 3, 1)
    lifecycle.suspend_subscription(
        ctx, key(sub.id), Suspension("SpecificDate", specific_date=date(2026, 2, 10))
    )
    assert (sub.status, sub.suspended_date) == ("Suspended", date(2026, 2, 10))
    assert first.effective_end_date == date(2026, 2, 10)
    with pytest.raises(RuleViolation, match="Suspended"):
        lifecycle.suspend_subscription(ctx, key(sub.id), Suspension("Today"))
    with pytest.raises(InvalidValue, match="resume date"):
        lifecycle.resume_subscription(
            ctx, key(sub.id), Resumption("SpecificDate", specific_date=date(2026, 2, 1))
        )
    lifecycle.resume_subscription(
        ctx,
        key(sub.id),
        Resumption(
            "FixedPeriodsFromSuspendDate", periods=20, periods_type="Day", extends_term=True
        ),
    )
    assert (sub.status, sub.resumed_date) == ("Active", date(2026, 3, 2))
    assert sub.term_end_date == date(2027, 1, 21)
    old, new = charges_of(sub)
    assert (old.effective_end_date, old.is_last_segment) == (date(2026, 2, 10), False)
    assert (new.segment, new.effective_start_date, new.effective_end_date) == (
        2,
        date(2026, 3, 2),
        date(2027, 1, 21),
    )
    assert new.billed_through is None
    assert sub.version == 3


def test_suspend_today_and_resume_in_the_same_call(ctx: ServiceContext) -> None:
    data = setup_in(ctx, flat("100"))
    sub = service.create_subscription(ctx, new_sub(data))
    result = lifecycle.suspend_subscription(
        ctx,
        key(sub.id),
        Suspension(
            "Today",
            resume=Resumption("FixedPeriodsFromSuspendDate", periods=1, periods_type="Month"),
        ),
    )
    today = ctx.clock.today()
    assert sub.suspended_date == today
    assert sub.resumed_date == date(2026, 2, 10)
    assert sub.status == "Suspended"
    assert [c.effective_start_date for c in charges_of(sub)] == [
        date(2026, 1, 1),
        date(2026, 2, 10),
    ]
    assert result.delta.mrr == D("-100.00")
    with pytest.raises(RuleViolation, match="already resumes"):
        lifecycle.resume_subscription(ctx, key(sub.id), Resumption("Today"))


def test_renew_and_renew_due(ctx: ServiceContext) -> None:
    data = setup_in(ctx, flat("100"))
    monthly = service.create_subscription(ctx, new_sub(data, initial_term=1, renewal_term=1))
    manual = service.create_subscription(ctx, new_sub(data, auto_renew=False))
    lifecycle.renew_subscription(ctx, key(manual.id))
    assert (manual.term_start_date, manual.term_end_date) == (date(2027, 1, 1), date(2028, 1, 1))
    assert manual.current_term == 12
    assert charges_of(manual)[0].effective_end_date == date(2028, 1, 1)

    renewed = lifecycle.renew_due_subscriptions(ctx, [data.account_id], date(2026, 3, 15))
    assert renewed == [monthly]
    assert (monthly.term_start_date, monthly.term_end_date) == (date(2026, 3, 1), date(2026, 4, 1))
    assert charges_of(monthly)[0].effective_end_date == date(2026, 4, 1)
    assert monthly.version == 3
    assert lifecycle.renew_due_subscriptions(ctx, [data.account_id], date(2026, 3, 15)) == []
    assert lifecycle.renew_due_subscriptions(ctx, [], date(2030, 1, 1)) == []


def test_renew_to_evergreen_and_evergreen_refusal(ctx: ServiceContext) -> None:
    data = setup_in(ctx, flat("100"))
    sub = service.create_subscription(ctx, new_sub(data, renewal_setting="RENEW_TO_EVERGREEN"))
    lifecycle.renew_subscription(ctx, key(sub.id))
    assert (sub.term_type, sub.term_end_date) == ("EVERGREEN", None)
    assert charges_of(sub)[0].effective_end_date is None
    with pytest.raises(RuleViolation, match="TERMED"):
        lifecycle.renew_subscription(ctx, key(sub.id))
    no_renewal = service.create_subscription(ctx, new_sub(data, renewal_term=0))
    with pytest.raises(RuleViolation, match="renewal term"):
        lifecycle.renew_subscription(ctx, key(no_renewal.id))


def test_other_tenants_subscriptions_are_not_found(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        data = setup_in(ctx, flat("100"))
        sub = service.create_subscription(ctx, new_sub(data))
        sub_id, number = sub.id, sub.subscription_number
    with unit_of_work(runtime.session_factory) as session:
        other = create_tenant(session, runtime.clock, "other tenant")
    with runtime.service_context(other.tenant_id) as other_ctx:
        with pytest.raises(NotFound):
            service.find_subscription(other_ctx, key(sub_id))
        with pytest.raises(NotFound):
            service.find_subscription(other_ctx, key(number))
        mine = setup_in(other_ctx, flat("1"))
        with pytest.raises(InvalidValue, match="accountKey"):
            service.create_subscription(other_ctx, new_sub(mine, account=key(data.account_id)))
        with pytest.raises(InvalidValue, match="productRatePlanId"):
            service.create_subscription(
                other_ctx,
                new_sub(mine, rate_plans=(RatePlanInput(key(data.plan.rate_plan_id)),)),
            )


def test_resume_repeats_every_span_the_suspension_cut(ctx: ServiceContext) -> None:
    data = setup_in(ctx, flat("100"))
    sub = service.create_subscription(ctx, new_sub(data))
    amendments.update_subscription(
        ctx, key(sub.id), _update_price(sub, date(2026, 6, 1), price=D("150"))
    )
    lifecycle.suspend_subscription(
        ctx, key(sub.id), Suspension("SpecificDate", specific_date=date(2026, 3, 1))
    )
    spans = [(c.segment, c.effective_start_date, c.effective_end_date) for c in charges_of(sub)]
    assert spans == [
        (1, date(2026, 1, 1), date(2026, 3, 1)),
        (2, date(2026, 6, 1), date(2026, 6, 1)),  # not begun: emptied
    ]
    lifecycle.resume_subscription(
        ctx, key(sub.id), Resumption("SpecificDate", specific_date=date(2026, 4, 1))
    )
    segments = charges_of(sub)
    assert [
        (c.segment, c.effective_start_date, c.effective_end_date, c.price, c.is_last_segment)
        for c in segments
    ] == [
        (1, date(2026, 1, 1), date(2026, 3, 1), D("100"), False),
        (2, date(2026, 6, 1), date(2026, 6, 1), D("150"), False),
        (3, date(2026, 4, 1), date(2026, 6, 1), D("100"), False),
        (4, date(2026, 6, 1), date(2027, 1, 1), D("150"), True),
    ]
    assert views.metrics(sub, "USD").mrr == D("150.00")
