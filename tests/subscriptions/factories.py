"""Test data for subscriptions: catalog rate plans and accounts written straight to the
tables (their services are built elsewhere), and request bodies."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billcycle.accounts.models import Account
from billcycle.catalog.models import (
    Product,
    ProductRatePlan,
    ProductRatePlanCharge,
    ProductRatePlanChargeTier,
)
from billcycle.context import ServiceContext
from billcycle.ids import to_zuora_id
from billcycle.runtime import Runtime
from billcycle.tenancy.numbers import next_number

_CREATED = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class TierSpec:
    price: str
    starting_unit: str | None = None
    ending_unit: str | None = None
    price_format: str = "Per Unit"


@dataclass
class ChargeSpec:
    name: str = "Monthly fee"
    charge_type: str = "Recurring"
    charge_model: str = "Flat Fee Pricing"
    billing_period: str | None = "Month"
    billing_timing: str = "IN_ADVANCE"
    bill_cycle_type: str = "DefaultFromCustomer"
    bill_cycle_day: int | None = None
    weekly_bill_cycle_day: str | None = None
    trigger_event: str = "ContractEffective"
    default_quantity: str | None = None
    uom: str | None = None
    # currency -> tiers (a flat fee or per unit price is a single tier)
    prices: dict[str, list[TierSpec]] = field(
        default_factory=lambda: {"USD": [TierSpec("100")], "EUR": [TierSpec("90")]}
    )


def flat(price: str, **kwargs: Any) -> ChargeSpec:
    return ChargeSpec(prices={"USD": [TierSpec(price, price_format="Flat Fee")]}, **kwargs)


def per_unit(price: str, **kwargs: Any) -> ChargeSpec:
    kwargs.setdefault("name", "Seats")
    kwargs.setdefault("default_quantity", "1")
    return ChargeSpec(charge_model="Per Unit Pricing", prices={"USD": [TierSpec(price)]}, **kwargs)


def tiered(**kwargs: Any) -> ChargeSpec:
    kwargs.setdefault("name", "Tiered seats")
    kwargs.setdefault("default_quantity", "15")
    return ChargeSpec(
        charge_model="Tiered Pricing",
        prices={
            "USD": [
                TierSpec("10", "0", "10"),
                TierSpec("5", "11", None),
            ]
        },
        **kwargs,
    )


@dataclass(frozen=True)
class CatalogPlan:
    """Ids of what the factory wrote (plain ints: safe outside the session)."""

    product_id: int
    rate_plan_id: int
    charge_ids: tuple[int, ...]

    @property
    def rate_plan_key(self) -> str:
        return to_zuora_id(self.rate_plan_id)

    def charge_key(self, index: int = 0) -> str:
        return to_zuora_id(self.charge_ids[index])


def add_rate_plan(
    session: Session,
    tenant_id: int,
    *charges: ChargeSpec,
    name: str = "Gold",
    product_name: str = "Cloud",
    sku: str | None = None,
) -> CatalogPlan:
    product = Product(
        tenant_id=tenant_id,
        name=product_name,
        sku=sku or f"SKU-{uuid.uuid4().hex[:12].upper()}",
        effective_start_date=date(2000, 1, 1),
        effective_end_date=date(2099, 12, 31),
        created_at=_CREATED,
        updated_at=_CREATED,
    )
    plan = ProductRatePlan(tenant_id=tenant_id, name=name, created_at=_CREATED, updated_at=_CREATED)
    product.rate_plans.append(plan)
    for spec in charges or (ChargeSpec(),):
        charge = ProductRatePlanCharge(
            tenant_id=tenant_id,
            name=spec.name,
            charge_type=spec.charge_type,
            charge_model=spec.charge_model,
            billing_period=spec.billing_period,
            billing_timing=spec.billing_timing,
            bill_cycle_type=spec.bill_cycle_type,
            bill_cycle_day=spec.bill_cycle_day,
            weekly_bill_cycle_day=spec.weekly_bill_cycle_day,
            trigger_event=spec.trigger_event,
            default_quantity=Decimal(spec.default_quantity) if spec.default_quantity else None,
            uom=spec.uom,
            created_at=_CREATED,
            updated_at=_CREATED,
        )
        for currency, tiers in spec.prices.items():
            for number, tier in enumerate(tiers, start=1):
                charge.tiers.append(
                    ProductRatePlanChargeTier(
                        tenant_id=tenant_id,
                        currency=currency,
                        tier=number,
                        starting_unit=Decimal(tier.starting_unit)
                        if tier.starting_unit is not None
                        else None,
                        ending_unit=Decimal(tier.ending_unit)
                        if tier.ending_unit is not None
                        else None,
                        price=Decimal(tier.price),
                        price_format=tier.price_format,
                    )
                )
        plan.charges.append(charge)
    session.add(product)
    session.flush()
    return CatalogPlan(product.id, plan.id, tuple(c.id for c in plan.charges))


def add_account(
    session: Session,
    tenant_id: int,
    *,
    currency: str = "USD",
    bill_cycle_day: int = 1,
    status: str = "Active",
) -> Account:
    account = Account(
        tenant_id=tenant_id,
        account_number=next_number(session, tenant_id, "account"),
        name="Acme Corp",
        currency=currency,
        bill_cycle_day=bill_cycle_day,
        batch=1,
        payment_term="Net 30",
        auto_pay=False,
        status=status,
        created_at=_CREATED,
        updated_at=_CREATED,
    )
    session.add(account)
    session.flush()
    return account


@dataclass(frozen=True)
class Setup:
    account_id: int
    account_number: str
    plan: CatalogPlan


def setup(
    runtime: Runtime,
    tenant_id: int,
    *charges: ChargeSpec,
    currency: str = "USD",
    bill_cycle_day: int = 1,
) -> Setup:
    """An account and a rate plan, committed (for HTTP and SDK tests)."""
    with runtime.service_context(tenant_id) as ctx:
        return setup_in(ctx, *charges, currency=currency, bill_cycle_day=bill_cycle_day)


def setup_in(
    ctx: ServiceContext, *charges: ChargeSpec, currency: str = "USD", bill_cycle_day: int = 1
) -> Setup:
    account = add_account(
        ctx.session, ctx.tenant_id, currency=currency, bill_cycle_day=bill_cycle_day
    )
    plan = add_rate_plan(ctx.session, ctx.tenant_id, *charges)
    return Setup(account.id, account.account_number, plan)


def create_body(data: Setup, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "accountKey": data.account_number,
        "contractEffectiveDate": "2026-01-01",
        "termType": "TERMED",
        "initialTerm": 12,
        "initialTermPeriodType": "Month",
        "renewalTerm": 12,
        "autoRenew": True,
        "subscribeToRatePlans": [{"productRatePlanId": data.plan.rate_plan_key}],
    }
    body.update(overrides)
    return body
