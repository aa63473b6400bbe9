# The SDK types nearly every field Optional and leaves its constructors untyped.
# mypy: disable-error-code="union-attr, no-untyped-call, arg-type, index, misc"
"""zuora-sdk, unchanged, against a live billcycle server: subscriptions created, read,
amended and ended through the SDK, every answer deserialized into the SDK's models."""

from __future__ import annotations

from datetime import date

import pytest
from zuora_sdk.api.subscriptions_api import SubscriptionsApi
from zuora_sdk.exceptions import ApiException
from zuora_sdk.models.cancel_subscription_request import CancelSubscriptionRequest
from zuora_sdk.models.create_subscription_component import CreateSubscriptionComponent
from zuora_sdk.models.create_subscription_rate_plan import CreateSubscriptionRatePlan
from zuora_sdk.models.create_subscription_request import CreateSubscriptionRequest
from zuora_sdk.models.renew_subscription_request import RenewSubscriptionRequest
from zuora_sdk.models.resume_subscription_request import ResumeSubscriptionRequest
from zuora_sdk.models.suspend_subscription_request import SuspendSubscriptionRequest
from zuora_sdk.models.update_rate_plan_charge import UpdateRatePlanCharge
from zuora_sdk.models.update_subscription_rate_plan import UpdateSubscriptionRatePlan
from zuora_sdk.models.update_subscription_request import UpdateSubscriptionRequest

from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.subscriptions.factories import Setup, flat, per_unit, setup, tiered
from tests.support.zuora_sdk import make_sdk_client


def iso(*values: object) -> tuple[str, ...]:
    """Dates as the SDK hands them back (it keeps some as text), in ISO form."""
    return tuple(str(v) for v in values)


@pytest.fixture
def subscriptions(live_url: str, tenant: NewTenant) -> SubscriptionsApi:
    client = make_sdk_client(f"{live_url}/zuora", tenant.client_id, tenant.client_secret)
    api: SubscriptionsApi = client.subscriptions_api()
    return api


@pytest.fixture
def data(runtime: Runtime, tenant: NewTenant) -> Setup:
    return setup(runtime, tenant.tenant_id, flat("100"), per_unit("7.5"), tiered())


def _create(subscriptions: SubscriptionsApi, data: Setup) -> str:
    request = CreateSubscriptionRequest(
        account_key=data.account_number,
        contract_effective_date=date(2026, 1, 1),
        term_type="TERMED",
        initial_term=12,
        initial_term_period_type="Month",
        renewal_term=12,
        auto_renew=True,
        subscribe_to_rate_plans=[
            CreateSubscriptionRatePlan(
                product_rate_plan_id=data.plan.rate_plan_key,
                charge_overrides=[
                    CreateSubscriptionComponent(
                        product_rate_plan_charge_id=data.plan.charge_key(1),
                        price=8.25,
                        quantity=4,
                    )
                ],
            )
        ],
    )
    created = subscriptions.create_subscription(request)
    assert created.success is True
    assert created.subscription_number == "A-S00000001"
    assert len(created.subscription_id) == 32
    assert created.contracted_mrr == 100 + 33 + 125  # tiered: 10 units x 10 + 5 x 5
    assert created.total_contracted_value == 258 * 12
    return str(created.subscription_id)


def test_create_and_read_back_through_the_sdk(subscriptions: SubscriptionsApi, data: Setup) -> None:
    subscription_id = _create(subscriptions, data)
    sub = subscriptions.get_subscription_by_key(subscription_id)
    assert sub.success is True
    assert sub.id == subscription_id
    assert sub.subscription_number == "A-S00000001"
    assert sub.account_number == data.account_number
    assert sub.status == "Active"
    assert iso(sub.term_start_date, sub.term_end_date) == ("2026-01-01", "2027-01-01")
    assert sub.initial_term_period_type == "Month"
    (rate_plan,) = sub.rate_plans
    assert rate_plan.product_rate_plan_id == data.plan.rate_plan_key
    fee, seats, tiers = rate_plan.rate_plan_charges
    assert (fee.model, fee.type, fee.price) == ("FlatFee", "Recurring", 100)
    assert (seats.model, seats.price, seats.quantity) == ("PerUnit", 8.25, 4)
    assert tiers.model == "Tiered"
    assert [(t.tier, t.price, t.price_format) for t in tiers.tiers] == [
        (1, 10, "PerUnit"),
        (2, 5, "PerUnit"),
    ]
    assert fee.billing_period == "Month"
    assert fee.billing_timing == "IN_ADVANCE"
    assert fee.trigger_event == "ContractEffective"
    assert iso(fee.effective_start_date, fee.effective_end_date) == (
        "2026-01-01",
        "2027-01-01",
    )
    assert fee.charged_through_date is None
    assert (fee.number, fee.segment) == ("C-00000001", 1)
    assert fee.additional_properties["billCycleDay"] == 1

    by_number = subscriptions.get_subscription_by_key("A-S00000001", charge_detail="all-segments")
    assert by_number.rate_plans[0].rate_plan_charges[0].charge_segments[0].segment == 1
    listed = subscriptions.get_subscriptions_by_account(data.account_number, page_size=10)
    assert [s.subscription_number for s in listed.subscriptions] == ["A-S00000001"]


def test_amend_and_end_through_the_sdk(subscriptions: SubscriptionsApi, data: Setup) -> None:
    subscription_id = _create(subscriptions, data)
    sub = subscriptions.get_subscription_by_key(subscription_id)
    rate_plan = sub.rate_plans[0]
    update = UpdateSubscriptionRequest(
        update=[
            UpdateSubscriptionRatePlan(
                rate_plan_id=rate_plan.id,
                contract_effective_date=date(2026, 3, 1),
                charge_update_details=[
                    UpdateRatePlanCharge(
                        rate_plan_charge_id=rate_plan.rate_plan_charges[0].id, price=150
                    )
                ],
            )
        ]
    )
    updated = subscriptions.update_subscription(subscription_id, update)
    assert (updated.success, updated.total_delta_mrr) == (True, 50)

    suspended = subscriptions.suspend_subscription(
        subscription_id, SuspendSubscriptionRequest(suspend_policy="Today")
    )
    assert iso(suspended.suspend_date) == ("2026-01-10",)
    resumed = subscriptions.resume_subscription(
        subscription_id,
        ResumeSubscriptionRequest(
            resume_policy="SpecificDate", resume_specific_date=date(2026, 1, 20), extends_term=True
        ),
    )
    assert iso(resumed.resume_date, resumed.term_end_date) == ("2026-01-20", "2027-01-11")
    renewed = subscriptions.renew_subscription(subscription_id, RenewSubscriptionRequest())
    assert iso(renewed.term_start_date, renewed.term_end_date) == (
        "2027-01-11",
        "2028-01-11",
    )
    cancelled = subscriptions.cancel_subscription(
        subscription_id, CancelSubscriptionRequest(cancellation_policy="EndOfCurrentTerm")
    )
    assert cancelled.success is True
    assert iso(cancelled.cancelled_date) == ("2028-01-11",)
    assert subscriptions.get_subscription_by_key(subscription_id).status == "Cancelled"

    with pytest.raises(ApiException) as failure:
        subscriptions.cancel_subscription(
            subscription_id, CancelSubscriptionRequest(cancellation_policy="EndOfCurrentTerm")
        )
    assert failure.value.status == 400
