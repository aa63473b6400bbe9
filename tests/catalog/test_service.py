"""Catalog rules, through the service."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from billcycle.catalog import service
from billcycle.catalog.inputs import (
    ChargeChanges,
    NewProduct,
    NewRatePlan,
    ProductChanges,
    TierInput,
)
from billcycle.context import ServiceContext
from billcycle.db.session import unit_of_work
from billcycle.errors import DomainError, InvalidValue, MissingField, NotFound, RuleViolation
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant, create_tenant
from tests.catalog.factories import make_catalog, new_charge, subscribe

D = Decimal


@pytest.fixture
def ctx(runtime: Runtime, tenant: NewTenant) -> Iterator[ServiceContext]:
    with runtime.service_context(tenant.tenant_id) as context:
        yield context


@pytest.fixture
def plan_id(ctx: ServiceContext) -> int:
    plan, _charge = make_catalog(ctx)
    return plan.id


def t(start: Any, end: Any, price: Any = "1", currency: str = "USD", **kw: Any) -> TierInput:
    return TierInput(
        currency=currency,
        price=D(str(price)),
        starting_unit=None if start is None else D(str(start)),
        ending_unit=None if end is None else D(str(end)),
        **kw,
    )


def test_product_dates_sku_and_category(ctx: ServiceContext) -> None:
    start, end = date(2025, 1, 1), date(2026, 1, 1)
    first = service.create_product(ctx, NewProduct("A", start, end))
    assert first.sku == "SKU-00000001"
    service.create_product(ctx, NewProduct("B", start, end, sku="SKU-00000002"))
    # the generator skips a SKU a client already took
    assert service.create_product(ctx, NewProduct("C", start, end)).sku == "SKU-00000003"
    with pytest.raises(RuleViolation, match="already used"):
        service.create_product(ctx, NewProduct("D", start, end, sku="SKU-00000001"))
    with pytest.raises(InvalidValue, match="must be before"):
        service.create_product(ctx, NewProduct("E", end, end))
    with pytest.raises(InvalidValue, match="Category"):
        service.create_product(ctx, NewProduct("F", start, end, category="Gadgets"))
    with pytest.raises(MissingField, match="Name"):
        service.create_product(ctx, NewProduct("  ", start, end))
    with pytest.raises(InvalidValue, match="longer than 50"):
        service.create_product(ctx, NewProduct("G", start, end, sku="x" * 51))
    with pytest.raises(InvalidValue, match="must be before"):
        service.update_product(ctx, first.id, ProductChanges(effective_end_date=start))
    with pytest.raises(MissingField):
        service.update_product(ctx, first.id, ProductChanges(effective_end_date=None))
    assert service.find_product(ctx, "SKU-00000002").name == "B"
    with pytest.raises(NotFound):
        service.find_product(ctx, "no-such-sku")


def test_rate_plan_needs_an_existing_product(ctx: ServiceContext) -> None:
    with pytest.raises(InvalidValue, match="ProductId"):
        service.create_rate_plan(ctx, NewRatePlan(product_id=999_999, name="X"))


def test_charge_defaults(ctx: ServiceContext, plan_id: int) -> None:
    charge = service.create_charge(ctx, new_charge(plan_id))
    assert charge.billing_timing == "IN_ADVANCE"
    assert charge.bill_cycle_type == "DefaultFromCustomer"
    assert charge.trigger_event == "ContractEffective"
    assert charge.default_quantity == 1
    assert [(x.currency, x.tier, x.price_format) for x in charge.tiers] == [("USD", 1, "Per Unit")]
    usage = service.create_charge(
        ctx, new_charge(plan_id, charge_type="Usage", default_quantity=D(5))
    )
    assert usage.billing_timing == "IN_ARREARS"
    assert usage.default_quantity is None
    one_time = service.create_charge(
        ctx, new_charge(plan_id, charge_type="OneTime", charge_model="Flat Fee Pricing")
    )
    assert one_time.billing_period is None
    assert one_time.tiers[0].price_format == "Flat Fee"


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"charge_type": "Donation"}, InvalidValue, "ChargeType"),
        ({"charge_model": "Overage Pricing"}, InvalidValue, "ChargeModel"),
        ({"billing_period": None}, MissingField, "BillingPeriod is required"),
        ({"billing_period": "Fortnight"}, InvalidValue, "BillingPeriod"),
        ({"billing_period": "Specific_Months"}, MissingField, "SpecificBillingPeriod"),
        (
            {"billing_period": "Specific_Months", "specific_billing_period": 0},
            InvalidValue,
            "between 1",
        ),
        ({"specific_billing_period": 3}, InvalidValue, "only valid with BillingPeriod"),
        ({"billing_timing": "Later"}, InvalidValue, "BillingTiming"),
        ({"bill_cycle_type": "SpecificDayofMonth"}, MissingField, "BillCycleDay"),
        (
            {"bill_cycle_type": "SpecificDayofMonth", "bill_cycle_day": 32},
            InvalidValue,
            "between 1 and 31",
        ),
        ({"bill_cycle_day": 5}, InvalidValue, "only valid with BillCycleType"),
        ({"bill_cycle_type": "TermEndDay"}, InvalidValue, "BillCycleType"),
        ({"weekly_bill_cycle_day": "Monday"}, InvalidValue, "only valid with BillingPeriod Week"),
        (
            {"billing_period": "Week", "bill_cycle_type": "SpecificDayofWeek"},
            MissingField,
            "WeeklyBillCycleDay",
        ),
        (
            {"billing_period": "Week", "weekly_bill_cycle_day": "Funday"},
            InvalidValue,
            "WeeklyBillCycleDay",
        ),
        (
            {
                "billing_period": "Week",
                "bill_cycle_type": "SpecificDayofMonth",
                "bill_cycle_day": 1,
            },
            InvalidValue,
            "cannot be used with BillingPeriod Week",
        ),
        ({"trigger_event": "SpecificDate"}, InvalidValue, "TriggerEvent"),
        ({"default_quantity": D("-1")}, InvalidValue, "negative"),
        ({"default_quantity": D("1.0000000001")}, InvalidValue, "decimal places"),
        ({"uom": "x" * 26}, InvalidValue, "longer than 25"),
        ({"name": ""}, MissingField, "Name"),
    ],
)
def test_charge_terms_are_validated(
    ctx: ServiceContext,
    plan_id: int,
    overrides: dict[str, Any],
    error: type[DomainError],
    message: str,
) -> None:
    with pytest.raises(error, match=message) as raised:
        service.create_charge(ctx, new_charge(plan_id, **overrides))
    assert raised.value.resource == "product_rate_plan_charge"


def test_valid_billing_shapes(ctx: ServiceContext, plan_id: int) -> None:
    weekly = service.create_charge(
        ctx,
        new_charge(
            plan_id,
            billing_period="Week",
            bill_cycle_type="SpecificDayofWeek",
            weekly_bill_cycle_day="Friday",
        ),
    )
    assert (weekly.billing_period, weekly.weekly_bill_cycle_day) == ("Week", "Friday")
    specific = service.create_charge(
        ctx,
        new_charge(
            plan_id,
            billing_period="Specific_Months",
            specific_billing_period=18,
            bill_cycle_type="SpecificDayofMonth",
            bill_cycle_day=31,
            billing_timing="IN_ARREARS",
            trigger_event="ServiceActivation",
        ),
    )
    assert specific.specific_billing_period == 18
    assert specific.bill_cycle_day == 31
    assert specific.billing_timing == "IN_ARREARS"
    for cycle in ("SubscriptionStartDay", "ChargeTriggerDay"):
        assert service.create_charge(ctx, new_charge(plan_id, bill_cycle_type=cycle))


@pytest.mark.parametrize(
    ("model", "tiers", "message"),
    [
        ("Per Unit Pricing", [], "at least one price"),
        ("Flat Fee Pricing", [t(None, None), t(None, None)], "exactly one price per currency"),
        ("Per Unit Pricing", [TierInput(currency="USD", price=None)], "Price is required"),
        ("Per Unit Pricing", [TierInput(currency=None, price=D(1))], "Currency is required"),
        ("Per Unit Pricing", [TierInput(currency="ZZZ", price=D(1))], "ISO 4217"),
        ("Per Unit Pricing", [TierInput(currency="DEM", price=D(1))], "ISO 4217"),
        ("Per Unit Pricing", [TierInput(currency="USD", price=D("-0.01"))], "negative"),
        ("Per Unit Pricing", [TierInput(currency="USD", price=D("0.0000000001"))], "9 decimal"),
        ("Per Unit Pricing", [TierInput(currency="USD", price=D("1e19"))], "too large"),
        ("Per Unit Pricing", [TierInput(currency="USD", price=D("NaN"))], "number"),
        ("Tiered Pricing", [t(0, 10), t(10, None)], "overlaps"),
        ("Tiered Pricing", [t(0, 10), t(5, 20), t(21, None)], "overlaps"),
        ("Volume Pricing", [t(0, 10), t(12, None)], "leaves a gap"),
        ("Tiered Pricing", [t(0, None), t(11, None)], "only the last tier"),
        ("Tiered Pricing", [t(None, 10)], "StartingUnit is required"),
        ("Tiered Pricing", [t(5, 10)], "first tier must start at 0 or 1"),
        ("Tiered Pricing", [t(1, 0)], "before it starts"),
        ("Tiered Pricing", [t(0, 10, tier=2), t(11, None, tier=2)], "numbered 1 to 2"),
        ("Tiered Pricing", [t(0, 10, tier=1), t(11, None)], "for every tier"),
        ("Tiered Pricing", [t(0, 10, price_format="Lump")], "PriceFormat"),
        (
            "Tiered Pricing",
            [t(0, 10), t(11, None), t(0, 20, currency="EUR"), t(21, None, currency="EUR")],
            "same in every currency",
        ),
    ],
)
def test_prices_and_tiers_are_validated(
    ctx: ServiceContext, plan_id: int, model: str, tiers: list[TierInput], message: str
) -> None:
    with pytest.raises(DomainError, match=message):
        service.create_charge(ctx, new_charge(plan_id, charge_model=model, tiers=tiers))


def test_tiers_are_stored_in_order(ctx: ServiceContext, plan_id: int) -> None:
    tiers = [
        t(21, None, "0.5", tier=3, price_format="Flat Fee"),
        t(0, 10, "1.25", tier=1),
        t(11, 20, "0.8", tier=2),
        t(0, 10, "1", currency="eur", tier=1),
        t(11, 20, "0.7", currency="eur", tier=2),
        t(21, None, "0.4", currency="eur", tier=3),
    ]
    charge = service.create_charge(
        ctx, new_charge(plan_id, charge_model="Tiered Pricing", tiers=tiers)
    )
    rows = [(x.currency, x.tier, x.starting_unit, x.ending_unit, x.price) for x in charge.tiers]
    assert rows == [
        ("EUR", 1, 0, 10, D("1")),
        ("EUR", 2, 11, 20, D("0.7")),
        ("EUR", 3, 21, None, D("0.4")),
        ("USD", 1, 0, 10, D("1.25")),
        ("USD", 2, 11, 20, D("0.8")),
        ("USD", 3, 21, None, D("0.5")),
    ]
    assert charge.tiers[5].price_format == "Flat Fee"
    fractional = [t("1", "10.5"), t("11.5", None)]
    assert service.create_charge(
        ctx, new_charge(plan_id, charge_model="Volume Pricing", tiers=fractional)
    )


def test_update_merges_and_revalidates(ctx: ServiceContext, plan_id: int) -> None:
    charge = service.create_charge(
        ctx,
        new_charge(
            plan_id,
            bill_cycle_type="SpecificDayofMonth",
            bill_cycle_day=15,
            tiers=[t(None, None, "10"), t(None, None, "9", currency="EUR")],
        ),
    )
    # prices given for one currency replace that currency only
    service.update_charge(
        ctx, charge.id, ChargeChanges(tiers=[TierInput(currency="usd", price=D("12"))])
    )
    assert [(x.currency, x.price) for x in charge.tiers] == [("EUR", 9), ("USD", 12)]
    # repeating a value changes nothing, even without its dependent field
    service.update_charge(ctx, charge.id, ChargeChanges(bill_cycle_type="SpecificDayofMonth"))
    assert charge.bill_cycle_day == 15
    # leaving SpecificDayofMonth drops the day instead of failing
    service.update_charge(ctx, charge.id, ChargeChanges(bill_cycle_type="DefaultFromCustomer"))
    assert charge.bill_cycle_day is None
    with pytest.raises(InvalidValue, match="exactly one price"):
        service.update_charge(ctx, charge.id, ChargeChanges(tiers=[t(None, None), t(None, None)]))
    with pytest.raises(InvalidValue, match="cannot be changed"):
        service.update_charge(ctx, charge.id, ChargeChanges(product_rate_plan_id=plan_id + 1))
    service.update_charge(
        ctx,
        charge.id,
        ChargeChanges(
            charge_model="Volume Pricing",
            tiers=[
                t(0, 10, "2"),
                t(11, None, "1"),
                t(0, 10, "2", currency="EUR"),
                t(11, None, "1", currency="EUR"),
            ],
        ),
    )
    assert len(charge.tiers) == 4
    ctx.session.expire_all()
    assert len(service.get_charge(ctx, charge.id).tiers) == 4


def test_delete_rules(ctx: ServiceContext) -> None:
    plan, charge = make_catalog(ctx)
    subscribe(ctx, plan, charge)
    for delete, object_id in (
        (service.delete_charge, charge.id),
        (service.delete_rate_plan, plan.id),
        (service.delete_product, plan.product_id),
    ):
        with pytest.raises(RuleViolation, match="used by a subscription"):
            delete(ctx, object_id)
    # an unused charge of the same plan can go
    spare = service.create_charge(ctx, new_charge(plan.id, name="Spare"))
    service.delete_charge(ctx, spare.id)
    with pytest.raises(NotFound):
        service.get_charge(ctx, spare.id)


def test_deleting_a_product_deletes_its_plans_and_charges(ctx: ServiceContext) -> None:
    plan, charge = make_catalog(ctx)
    service.delete_product(ctx, plan.product_id)
    with pytest.raises(NotFound):
        service.get_rate_plan(ctx, plan.id)
    with pytest.raises(NotFound):
        service.get_charge(ctx, charge.id)


def test_other_tenants_objects_are_not_found(runtime: Runtime, tenant: NewTenant) -> None:
    with unit_of_work(runtime.session_factory) as session:
        other = create_tenant(session, runtime.clock, "other")
    with runtime.service_context(other.tenant_id) as theirs:
        plan, charge = make_catalog(theirs)
        ids = (plan.product_id, plan.id, charge.id)
    with runtime.service_context(tenant.tenant_id) as ctx:
        with pytest.raises(NotFound):
            service.get_product(ctx, ids[0])
        with pytest.raises(NotFound):
            service.get_rate_plan(ctx, ids[1])
        with pytest.raises(NotFound):
            service.delete_charge(ctx, ids[2])
        with pytest.raises(InvalidValue):
            service.create_charge(ctx, new_charge(ids[1]))


def test_rate_plan_status(ctx: ServiceContext) -> None:
    plan, _ = make_catalog(ctx)  # product effective 2025-01-01 .. 2035-01-01
    assert service.rate_plan_status(plan, date(2026, 1, 1)) == "Active"
    assert service.rate_plan_status(plan, date(2024, 1, 1)) == "NotStarted"
    assert service.rate_plan_status(plan, date(2036, 1, 1)) == "Expired"


def test_listing_products_costs_one_query_per_level(ctx: ServiceContext, runtime: Runtime) -> None:
    for _ in range(4):
        plan, _charge = make_catalog(ctx)
        service.create_rate_plan(ctx, NewRatePlan(product_id=plan.product_id, name="Annual"))
        service.create_charge(ctx, new_charge(plan.id, name="Extra"))
    ctx.session.expire_all()
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        products, has_more = service.list_products(ctx, 0, 10)
        charges = [c for p in products for rp in p.rate_plans for c in rp.charges]
        assert sum(len(c.tiers) for c in charges) == 8
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)
    assert (len(products), has_more) == (4, False)
    assert len(statements) == 4, statements


def test_errors_name_ids_for_the_dialect_to_write(ctx: ServiceContext) -> None:
    """The domain never formats a wire id: each dialect renders the id placeholders."""
    plan, charge = make_catalog(ctx)
    subscribe(ctx, plan, charge)
    with pytest.raises(RuleViolation) as in_use:
        service.delete_rate_plan(ctx, plan.id)
    assert in_use.value.ids == {"rate_plan": plan.id}
    assert in_use.value.render() == (
        f"Product rate plan {plan.id} is used by a subscription and cannot be deleted."
    )
    assert in_use.value.render(lambda value: f"<{value}>") == (
        f"Product rate plan <{plan.id}> is used by a subscription and cannot be deleted."
    )
    with pytest.raises(NotFound) as missing:
        service.get_charge(ctx, 10**12)
    assert missing.value.ids == {"charge": 10**12}
    assert str(missing.value) == f"Product rate plan charge {10**12} not found."


def test_a_product_is_found_by_id_or_else_by_sku(ctx: ServiceContext) -> None:
    plan, _ = make_catalog(ctx)
    product = plan.product
    assert service.find_product(ctx, "ignored", product_id=product.id).id == product.id
    # An id that names nothing falls back to the key as a SKU (a SKU may look like an id).
    assert service.find_product(ctx, product.sku, product_id=10**12).id == product.id
    with pytest.raises(NotFound, match="Product nope not found"):
        service.find_product(ctx, "nope", product_id=10**12)
