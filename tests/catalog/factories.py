"""Builders for catalog tests: wire payloads, ready-made catalogs, and a subscription that
points at a catalog (written as rows, since only the reference matters here)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from billcycle.accounts.models import Account
from billcycle.catalog import service
from billcycle.catalog.inputs import NewCharge, NewProduct, NewRatePlan, TierInput
from billcycle.catalog.models import ProductRatePlan, ProductRatePlanCharge
from billcycle.context import ServiceContext
from billcycle.subscriptions.models import Subscription, SubscriptionCharge, SubscriptionRatePlan
from tests.support.api import Api

D = Decimal


def product_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Name": "Gold",
        "SKU": "GOLD-1",
        "Description": "The gold product",
        "Category": "Base Products",
        "EffectiveStartDate": "2025-01-01",
        "EffectiveEndDate": "2035-01-01",
    }
    body.update(overrides)
    return body


def charge_body(plan_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ProductRatePlanId": plan_id,
        "Name": "Seats",
        "ChargeType": "Recurring",
        "ChargeModel": "Per Unit Pricing",
        "BillingPeriod": "Month",
        "BillCycleType": "DefaultFromCustomer",
        "TriggerEvent": "ContractEffective",
        "UOM": "Each",
        "DefaultQuantity": 3,
        "UseDiscountSpecificAccountingCode": False,
        "ProductRatePlanChargeTierData": {
            "ProductRatePlanChargeTier": [{"Currency": "USD", "Price": 10.5}]
        },
    }
    body.update(overrides)
    return body


def tiers(*rows: tuple[Any, Any, Any], currency: str = "USD") -> dict[str, Any]:
    """Tier data from (starting unit, ending unit, price) rows."""
    return {
        "ProductRatePlanChargeTier": [
            {"Currency": currency, "StartingUnit": s, "EndingUnit": e, "Price": p}
            for s, e, p in rows
        ]
    }


def post(api: Api, path: str, body: Any, **params: str) -> Any:
    return api.client.post(
        f"/zuora/v1/object/{path}", json=body, headers=api.zuora_headers, params=params
    )


def create_catalog(api: Api, **charge_overrides: Any) -> tuple[str, str, str]:
    """(product id, rate plan id, charge id), created over HTTP."""
    product = post(api, "product", product_body())
    assert product.status_code == 200, product.text
    product_id = product.json()["Id"]
    plan = post(api, "product-rate-plan", {"ProductId": product_id, "Name": "Monthly"})
    assert plan.status_code == 200, plan.text
    plan_id = plan.json()["Id"]
    charge = post(api, "product-rate-plan-charge", charge_body(plan_id, **charge_overrides))
    assert charge.status_code == 200, charge.text
    return product_id, plan_id, charge.json()["Id"]


def make_catalog(ctx: ServiceContext) -> tuple[ProductRatePlan, ProductRatePlanCharge]:
    """A product with one monthly rate plan and one per-unit USD charge."""
    product = service.create_product(
        ctx,
        NewProduct(
            name="Gold", effective_start_date=date(2025, 1, 1), effective_end_date=date(2035, 1, 1)
        ),
    )
    plan = service.create_rate_plan(ctx, NewRatePlan(product_id=product.id, name="Monthly"))
    charge = service.create_charge(ctx, new_charge(plan.id))
    return plan, charge


def new_charge(plan_id: int, **overrides: Any) -> NewCharge:
    values: dict[str, Any] = {
        "product_rate_plan_id": plan_id,
        "name": "Seats",
        "charge_type": "Recurring",
        "charge_model": "Per Unit Pricing",
        "billing_period": "Month",
        "tiers": [TierInput(currency="USD", price=D("10"))],
    }
    values.update(overrides)
    return NewCharge(**values)


def subscribe(ctx: ServiceContext, plan: ProductRatePlan, charge: ProductRatePlanCharge) -> None:
    """Rows of a subscription that uses ``plan`` and ``charge``."""
    now = datetime(2026, 1, 10, tzinfo=UTC)
    start = date(2026, 1, 1)
    account = Account(
        tenant_id=ctx.tenant_id,
        account_number="A-CAT-1",
        name="Acme",
        currency="USD",
        bill_cycle_day=1,
        payment_term="Due Upon Receipt",
        status="Active",
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(account)
    ctx.session.flush()
    subscription = Subscription(
        tenant_id=ctx.tenant_id,
        account_id=account.id,
        subscription_number="A-S-CAT-1",
        status="Active",
        term_type="EVERGREEN",
        initial_term_period_type="Month",
        renewal_term_period_type="Month",
        current_term_period_type="Month",
        renewal_setting="RENEW_WITH_SPECIFIC_TERM",
        contract_effective_date=start,
        subscription_start_date=start,
        term_start_date=start,
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(subscription)
    ctx.session.flush()
    rate_plan = SubscriptionRatePlan(
        tenant_id=ctx.tenant_id,
        subscription_id=subscription.id,
        product_id=plan.product_id,
        product_rate_plan_id=plan.id,
        name=plan.name,
        product_name="Gold",
        product_sku="SKU",
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(rate_plan)
    ctx.session.flush()
    ctx.session.add(
        SubscriptionCharge(
            tenant_id=ctx.tenant_id,
            subscription_rate_plan_id=rate_plan.id,
            subscription_id=subscription.id,
            account_id=account.id,
            product_rate_plan_charge_id=charge.id,
            charge_number="C-CAT-1",
            name=charge.name,
            charge_type=charge.charge_type,
            charge_model=charge.charge_model,
            billing_period=charge.billing_period,
            billing_timing=charge.billing_timing,
            bill_cycle_type=charge.bill_cycle_type,
            trigger_event=charge.trigger_event,
            currency="USD",
            quantity=D(1),
            price=D(10),
            effective_start_date=start,
            created_at=now,
            updated_at=now,
        )
    )
    ctx.session.flush()
