"""The product catalog's rules: products, their rate plans, charges and price tiers.

Every write validates the complete resulting object (an update is merged into the stored
charge first), so a charge can never be left in a shape rating cannot price. Tiers
follow Zuora and :mod:`billcycle.rating.pricing`: written ``0-10, 11-20, 21-`` (each tier
starts one unit after the previous one ends), only the last may be open-ended, and every
currency of a charge shares the same ranges.

Objects a subscription points at cannot be deleted; deleting a product deletes its rate
plans and charges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from billcycle.catalog import repository as repo
from billcycle.catalog.inputs import (
    BillCycleType,
    ChargeChanges,
    NewCharge,
    NewProduct,
    NewRatePlan,
    ProductCategory,
    ProductChanges,
    RatePlanChanges,
    TierInput,
    TriggerEvent,
    WeekDay,
)
from billcycle.catalog.models import (
    Product,
    ProductRatePlan,
    ProductRatePlanCharge,
    ProductRatePlanChargeTier,
)
from billcycle.context import ServiceContext
from billcycle.db.types import PRICE_SCALE
from billcycle.errors import DomainError, InvalidValue, MissingField, NotFound, RuleViolation
from billcycle.ids import parse_zuora_id, to_zuora_id
from billcycle.money import normalize_currency
from billcycle.rating.types import (
    BillingPeriod,
    BillingTiming,
    ChargeModel,
    ChargeType,
    PriceFormat,
)
from billcycle.tenancy.numbers import reserve
from billcycle.unset import UNSET

PRODUCT = "product"
RATE_PLAN = "product_rate_plan"
CHARGE = "product_rate_plan_charge"

PRODUCT_NAME_MAX = 100
RATE_PLAN_NAME_MAX = 255
CHARGE_NAME_MAX = 100
SKU_MAX = 50
DESCRIPTION_MAX = 500
UOM_MAX = 25
BILL_CYCLE_DAY_MAX = 31
# A hundred years: beyond that period arithmetic would leave the calendar.
SPECIFIC_MONTHS_MAX = 1200
# Prices and units are NUMERIC(28, 9): 19 integer digits, 9 decimals.
_DECIMAL_LIMIT = Decimal(10) ** (28 - PRICE_SCALE)
_ONE = Decimal(1)
_TIERED_MODELS = (ChargeModel.Tiered, ChargeModel.Volume)

E = TypeVar("E", bound=StrEnum)


# --- small validators ---------------------------------------------------------------


def _text(value: str | None, field: str, resource: str, max_len: int) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if len(text) > max_len:
        raise InvalidValue(
            f"{field} is longer than {max_len} characters.", resource=resource, field=field
        )
    return text or None


def _required_text(value: str | None, field: str, resource: str, max_len: int) -> str:
    text = _text(value, field, resource, max_len)
    if text is None:
        raise MissingField(f"{field} is required.", resource=resource, field=field)
    return text


def _enum(kind: type[E], value: str, field: str, resource: str) -> E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidValue(
            f"Invalid value for {field}: '{value}'. Allowed: {allowed}.",
            resource=resource,
            field=field,
        ) from None


def _decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _amount(value: Decimal, field: str, resource: str) -> Decimal:
    """A price or a unit count: finite, not negative, at most 9 decimals, fits NUMERIC(28,9)."""
    if not value.is_finite():
        raise InvalidValue(f"{field} must be a number.", resource=resource, field=field)
    if value < 0:
        raise InvalidValue(f"{field} cannot be negative ({value}).", resource=resource, field=field)
    if _decimal_places(value) > PRICE_SCALE:
        raise InvalidValue(
            f"{field} {value} has more than {PRICE_SCALE} decimal places.",
            resource=resource,
            field=field,
        )
    if value >= _DECIMAL_LIMIT:
        raise InvalidValue(f"{field} {value} is too large.", resource=resource, field=field)
    return value if value else Decimal(0)


def _int_in_range(value: int, low: int, high: int, field: str, resource: str) -> int:
    if not low <= value <= high:
        raise InvalidValue(
            f"{field} must be between {low} and {high}, got {value}.",
            resource=resource,
            field=field,
        )
    return value


def _check_period(start: date | None, end: date | None, resource: str) -> None:
    if start is not None and end is not None and start >= end:
        raise InvalidValue(
            f"EffectiveStartDate ({start}) must be before EffectiveEndDate ({end}).",
            resource=resource,
            field="EffectiveEndDate",
        )


# --- products -----------------------------------------------------------------------


def create_product(ctx: ServiceContext, new: NewProduct) -> Product:
    name = _required_text(new.name, "Name", PRODUCT, PRODUCT_NAME_MAX)
    sku = _new_sku(ctx) if new.sku is None else _checked_sku(ctx, new.sku, None)
    _check_period(new.effective_start_date, new.effective_end_date, PRODUCT)
    now = ctx.clock.now()
    product = Product(
        tenant_id=ctx.tenant_id,
        name=name,
        sku=sku,
        description=_text(new.description, "Description", PRODUCT, DESCRIPTION_MAX),
        category=_category(new.category),
        effective_start_date=new.effective_start_date,
        effective_end_date=new.effective_end_date,
        created_at=now,
        updated_at=now,
    )
    repo.add(ctx.session, product)
    ctx.session.flush()
    return product


def _category(value: str | None) -> str | None:
    if value is None:
        return None
    return _enum(ProductCategory, value, "Category", PRODUCT).value


def _new_sku(ctx: ServiceContext) -> str:
    """Zuora numbers SKUs itself when none is given; skip any a client already chose."""
    while True:
        sku = f"SKU-{reserve(ctx.session, ctx.tenant_id, 'product_sku'):08d}"
        if not repo.sku_taken(ctx.session, ctx.tenant_id, sku):
            return sku


def _checked_sku(ctx: ServiceContext, value: str | None, product_id: int | None) -> str:
    sku = _required_text(value, "SKU", PRODUCT, SKU_MAX)
    if repo.sku_taken(ctx.session, ctx.tenant_id, sku, except_id=product_id):
        raise RuleViolation(
            f"SKU '{sku}' is already used by another product.", resource=PRODUCT, field="SKU"
        )
    return sku


def get_product(ctx: ServiceContext, product_id: int, *, nested: bool = False) -> Product:
    product = repo.get_product(ctx.session, ctx.tenant_id, product_id, nested=nested)
    if product is None:
        raise NotFound(f"Product {to_zuora_id(product_id)} not found.", resource=PRODUCT)
    return product


def find_product(ctx: ServiceContext, key: str, *, nested: bool = True) -> Product:
    """A product by its id or its SKU (Zuora's ``product-key``)."""
    product_id = parse_zuora_id(key)
    product = None
    if product_id is not None:
        product = repo.get_product(ctx.session, ctx.tenant_id, product_id, nested=nested)
    if product is None:
        product = repo.get_product_by_sku(ctx.session, ctx.tenant_id, key, nested=nested)
    if product is None:
        raise NotFound(f"Product {key} not found.", resource=PRODUCT)
    return product


def list_products(ctx: ServiceContext, offset: int, limit: int) -> tuple[list[Product], bool]:
    """One page of products with their rate plans, charges and tiers; and whether more follow."""
    rows = repo.list_products(ctx.session, ctx.tenant_id, offset, limit + 1)
    return rows[:limit], len(rows) > limit


def update_product(ctx: ServiceContext, product_id: int, changes: ProductChanges) -> Product:
    product = get_product(ctx, product_id)
    if changes.name is not UNSET:
        product.name = _required_text(changes.name, "Name", PRODUCT, PRODUCT_NAME_MAX)
    if changes.sku is not UNSET:
        product.sku = _checked_sku(ctx, changes.sku, product.id)
    if changes.description is not UNSET:
        product.description = _text(changes.description, "Description", PRODUCT, DESCRIPTION_MAX)
    if changes.category is not UNSET:
        product.category = _category(changes.category)
    for field in ("effective_start_date", "effective_end_date"):
        value = getattr(changes, field)
        if value is None:
            name = "EffectiveStartDate" if field == "effective_start_date" else "EffectiveEndDate"
            raise MissingField(f"{name} cannot be removed.", resource=PRODUCT, field=name)
        if value is not UNSET:
            setattr(product, field, value)
    _check_period(product.effective_start_date, product.effective_end_date, PRODUCT)
    product.updated_at = ctx.clock.now()
    ctx.session.flush()
    return product


def delete_product(ctx: ServiceContext, product_id: int) -> None:
    product = get_product(ctx, product_id, nested=True)
    if repo.product_in_use(ctx.session, ctx.tenant_id, product.id):
        raise RuleViolation(
            f"Product {to_zuora_id(product.id)} is used by a subscription and cannot be deleted.",
            resource=PRODUCT,
        )
    repo.delete_object(ctx.session, product)
    ctx.session.flush()


# --- rate plans ---------------------------------------------------------------------


def create_rate_plan(ctx: ServiceContext, new: NewRatePlan) -> ProductRatePlan:
    product = repo.get_product(ctx.session, ctx.tenant_id, new.product_id)
    if product is None:
        raise InvalidValue(
            f"Invalid value for ProductId: product {to_zuora_id(new.product_id)} not found.",
            resource=RATE_PLAN,
            field="ProductId",
        )
    _check_period(new.effective_start_date, new.effective_end_date, RATE_PLAN)
    now = ctx.clock.now()
    plan = ProductRatePlan(
        tenant_id=ctx.tenant_id,
        product_id=product.id,
        name=_required_text(new.name, "Name", RATE_PLAN, RATE_PLAN_NAME_MAX),
        description=_text(new.description, "Description", RATE_PLAN, DESCRIPTION_MAX),
        effective_start_date=new.effective_start_date,
        effective_end_date=new.effective_end_date,
        created_at=now,
        updated_at=now,
    )
    repo.add(ctx.session, plan)
    ctx.session.flush()
    return plan


def get_rate_plan(ctx: ServiceContext, rate_plan_id: int) -> ProductRatePlan:
    """A rate plan with its product, charges and tiers loaded."""
    plan = repo.get_rate_plan(ctx.session, ctx.tenant_id, rate_plan_id)
    if plan is None:
        raise NotFound(
            f"Product rate plan {to_zuora_id(rate_plan_id)} not found.", resource=RATE_PLAN
        )
    return plan


def list_rate_plans(
    ctx: ServiceContext, product_id: int, offset: int, limit: int
) -> tuple[list[ProductRatePlan], bool]:
    rows = repo.list_rate_plans_of_product(
        ctx.session, ctx.tenant_id, product_id, offset, limit + 1
    )
    return rows[:limit], len(rows) > limit


def update_rate_plan(
    ctx: ServiceContext, rate_plan_id: int, changes: RatePlanChanges
) -> ProductRatePlan:
    plan = get_rate_plan(ctx, rate_plan_id)
    if changes.product_id is not UNSET and changes.product_id != plan.product_id:
        raise InvalidValue(
            "ProductId of a product rate plan cannot be changed.",
            resource=RATE_PLAN,
            field="ProductId",
        )
    if changes.name is not UNSET:
        plan.name = _required_text(changes.name, "Name", RATE_PLAN, RATE_PLAN_NAME_MAX)
    if changes.description is not UNSET:
        plan.description = _text(changes.description, "Description", RATE_PLAN, DESCRIPTION_MAX)
    if changes.effective_start_date is not UNSET:
        plan.effective_start_date = changes.effective_start_date
    if changes.effective_end_date is not UNSET:
        plan.effective_end_date = changes.effective_end_date
    _check_period(plan.effective_start_date, plan.effective_end_date, RATE_PLAN)
    plan.updated_at = ctx.clock.now()
    ctx.session.flush()
    return plan


def rate_plan_status(plan: ProductRatePlan, today: date) -> str:
    """Zuora's ``NotStarted`` / ``Active`` / ``Expired``; a plan without dates has its
    product's."""
    start = plan.effective_start_date or plan.product.effective_start_date
    end = plan.effective_end_date or plan.product.effective_end_date
    if today < start:
        return "NotStarted"
    if today > end:
        return "Expired"
    return "Active"


def delete_rate_plan(ctx: ServiceContext, rate_plan_id: int) -> None:
    plan = get_rate_plan(ctx, rate_plan_id)
    if repo.rate_plan_in_use(ctx.session, ctx.tenant_id, plan.id):
        raise RuleViolation(
            f"Product rate plan {to_zuora_id(plan.id)} is used by a subscription and cannot "
            "be deleted.",
            resource=RATE_PLAN,
        )
    repo.delete_object(ctx.session, plan)
    ctx.session.flush()


# --- charges ------------------------------------------------------------------------


def _bad(message: str, field: str) -> InvalidValue:
    return InvalidValue(message, resource=CHARGE, field=field)


def _needs(message: str, field: str) -> MissingField:
    return MissingField(message, resource=CHARGE, field=field)


@dataclass(frozen=True, slots=True)
class _Tier:
    currency: str
    tier: int
    starting_unit: Decimal | None
    ending_unit: Decimal | None
    price: Decimal
    price_format: PriceFormat


@dataclass(frozen=True, slots=True)
class _Terms:
    """A validated charge, in the values its columns store."""

    name: str
    description: str | None
    charge_type: ChargeType
    charge_model: ChargeModel
    billing_period: BillingPeriod | None
    specific_billing_period: int | None
    billing_timing: BillingTiming
    bill_cycle_type: BillCycleType
    bill_cycle_day: int | None
    weekly_bill_cycle_day: WeekDay | None
    trigger_event: TriggerEvent
    default_quantity: Decimal | None
    uom: str | None
    tiers: tuple[_Tier, ...]


def create_charge(ctx: ServiceContext, new: NewCharge) -> ProductRatePlanCharge:
    plan = repo.get_rate_plan(ctx.session, ctx.tenant_id, new.product_rate_plan_id)
    if plan is None:
        raise _bad(
            "Invalid value for ProductRatePlanId: product rate plan "
            f"{to_zuora_id(new.product_rate_plan_id)} not found.",
            "ProductRatePlanId",
        )
    terms = _resolve(new)
    now = ctx.clock.now()
    charge = ProductRatePlanCharge(
        tenant_id=ctx.tenant_id, product_rate_plan_id=plan.id, created_at=now, updated_at=now
    )
    _apply(charge, terms)
    charge.tiers = _tier_rows(ctx, terms)
    repo.add(ctx.session, charge)
    ctx.session.flush()
    return charge


def get_charge(ctx: ServiceContext, charge_id: int) -> ProductRatePlanCharge:
    """A charge with its tiers loaded."""
    charge = repo.get_charge(ctx.session, ctx.tenant_id, charge_id)
    if charge is None:
        raise NotFound(
            f"Product rate plan charge {to_zuora_id(charge_id)} not found.", resource=CHARGE
        )
    return charge


def update_charge(
    ctx: ServiceContext, charge_id: int, changes: ChargeChanges
) -> ProductRatePlanCharge:
    charge = get_charge(ctx, charge_id)
    moved = changes.product_rate_plan_id
    if moved is not UNSET and moved != charge.product_rate_plan_id:
        raise _bad(
            "ProductRatePlanId of a product rate plan charge cannot be changed.",
            "ProductRatePlanId",
        )
    current = _as_new_charge(charge)
    terms = _resolve(_merge(current, changes))
    _apply(charge, terms)
    stored = tuple(_tier_of_row(row) for row in charge.tiers)
    if stored != terms.tiers:
        # Delete before inserting: (charge, currency, tier) is unique.
        charge.tiers.clear()
        ctx.session.flush()
        charge.tiers.extend(_tier_rows(ctx, terms))
    charge.updated_at = ctx.clock.now()
    ctx.session.flush()
    return charge


def delete_charge(ctx: ServiceContext, charge_id: int) -> None:
    charge = get_charge(ctx, charge_id)
    if repo.charge_in_use(ctx.session, ctx.tenant_id, charge.id):
        raise RuleViolation(
            f"Product rate plan charge {to_zuora_id(charge.id)} is used by a subscription and "
            "cannot be deleted.",
            resource=CHARGE,
        )
    repo.delete_object(ctx.session, charge)
    ctx.session.flush()


def _as_new_charge(charge: ProductRatePlanCharge) -> NewCharge:
    return NewCharge(
        product_rate_plan_id=charge.product_rate_plan_id,
        name=charge.name,
        description=charge.description,
        charge_type=charge.charge_type,
        charge_model=charge.charge_model,
        billing_period=charge.billing_period,
        specific_billing_period=charge.specific_billing_period,
        billing_timing=charge.billing_timing,
        bill_cycle_type=charge.bill_cycle_type,
        bill_cycle_day=charge.bill_cycle_day,
        weekly_bill_cycle_day=charge.weekly_bill_cycle_day,
        trigger_event=charge.trigger_event,
        default_quantity=charge.default_quantity,
        uom=charge.uom,
        tiers=[
            TierInput(
                currency=row.currency,
                price=row.price,
                tier=row.tier,
                starting_unit=row.starting_unit,
                ending_unit=row.ending_unit,
                price_format=row.price_format,
            )
            for row in charge.tiers
        ],
    )


# Stored values that only make sense with another field's value: when an update changes
# that value and says nothing about the dependent one, the stored dependent is dropped
# instead of failing validation (e.g. leaving SpecificDayofMonth drops the day).
_DEPENDENTS = {
    "billing_timing": "charge_type",
    "bill_cycle_day": "bill_cycle_type",
    "weekly_bill_cycle_day": "billing_period",
    "specific_billing_period": "billing_period",
}


_NOT_MERGED = frozenset({"tiers", "product_rate_plan_id"})


def _merge(current: NewCharge, changes: ChargeChanges) -> NewCharge:
    given = {
        f.name: getattr(changes, f.name)
        for f in fields(changes)
        if getattr(changes, f.name) is not UNSET and f.name not in _NOT_MERGED
    }
    for dependent, driver in _DEPENDENTS.items():
        changed = driver in given and given[driver] != getattr(current, driver)
        if changed and dependent not in given:
            given[dependent] = None
    if changes.tiers is not UNSET:
        replaced = {_currency(tier.currency) for tier in changes.tiers}
        kept = [tier for tier in current.tiers if tier.currency not in replaced]
        given["tiers"] = [*kept, *changes.tiers]
    return replace(current, **given)


def _apply(charge: ProductRatePlanCharge, terms: _Terms) -> None:
    charge.name = terms.name
    charge.description = terms.description
    charge.charge_type = terms.charge_type.value
    charge.charge_model = terms.charge_model.value
    charge.billing_period = terms.billing_period.value if terms.billing_period else None
    charge.specific_billing_period = terms.specific_billing_period
    charge.billing_timing = terms.billing_timing.value
    charge.bill_cycle_type = terms.bill_cycle_type.value
    charge.bill_cycle_day = terms.bill_cycle_day
    wday = terms.weekly_bill_cycle_day
    charge.weekly_bill_cycle_day = wday.value if wday else None
    charge.trigger_event = terms.trigger_event.value
    charge.default_quantity = terms.default_quantity
    charge.uom = terms.uom


def _tier_rows(ctx: ServiceContext, terms: _Terms) -> list[ProductRatePlanChargeTier]:
    return [
        ProductRatePlanChargeTier(
            tenant_id=ctx.tenant_id,
            currency=tier.currency,
            tier=tier.tier,
            starting_unit=tier.starting_unit,
            ending_unit=tier.ending_unit,
            price=tier.price,
            price_format=tier.price_format.value,
        )
        for tier in terms.tiers
    ]


def _tier_of_row(row: ProductRatePlanChargeTier) -> _Tier:
    return _Tier(
        currency=row.currency,
        tier=row.tier,
        starting_unit=row.starting_unit,
        ending_unit=row.ending_unit,
        price=row.price,
        price_format=PriceFormat(row.price_format),
    )


def _resolve(spec: NewCharge) -> _Terms:
    charge_type = _enum(ChargeType, spec.charge_type, "ChargeType", CHARGE)
    model = _enum(ChargeModel, spec.charge_model, "ChargeModel", CHARGE)
    periodic = charge_type != ChargeType.OneTime
    period, specific = _billing_period(spec, periodic)
    cycle = _enum(
        BillCycleType,
        spec.bill_cycle_type or BillCycleType.DefaultFromCustomer,
        "BillCycleType",
        CHARGE,
    )
    bill_cycle_day, weekday = _bill_cycle(spec, cycle, period)
    quantity = None
    if model != ChargeModel.FlatFee and charge_type != ChargeType.Usage:
        given = spec.default_quantity
        quantity = _ONE if given is None else _amount(given, "DefaultQuantity", CHARGE)
    return _Terms(
        name=_required_text(spec.name, "Name", CHARGE, CHARGE_NAME_MAX),
        description=_text(spec.description, "Description", CHARGE, DESCRIPTION_MAX),
        charge_type=charge_type,
        charge_model=model,
        billing_period=period,
        specific_billing_period=specific,
        billing_timing=_billing_timing(spec, charge_type),
        bill_cycle_type=cycle,
        bill_cycle_day=bill_cycle_day,
        weekly_bill_cycle_day=weekday,
        trigger_event=_enum(
            TriggerEvent,
            spec.trigger_event or TriggerEvent.ContractEffective,
            "TriggerEvent",
            CHARGE,
        ),
        default_quantity=quantity,
        uom=_text(spec.uom, "UOM", CHARGE, UOM_MAX),
        tiers=_resolve_tiers(model, spec.tiers),
    )


def _billing_period(spec: NewCharge, periodic: bool) -> tuple[BillingPeriod | None, int | None]:
    """One-time charges have no period: whatever was sent is ignored, as Zuora does."""
    if not periodic:
        return None, None
    if spec.billing_period is None:
        raise _needs("BillingPeriod is required for Recurring and Usage charges.", "BillingPeriod")
    period = _enum(BillingPeriod, spec.billing_period, "BillingPeriod", CHARGE)
    specific = spec.specific_billing_period
    if period == BillingPeriod.Specific_Months:
        if specific is None:
            raise _needs(
                "SpecificBillingPeriod is required with BillingPeriod Specific_Months.",
                "SpecificBillingPeriod",
            )
        _int_in_range(specific, 1, SPECIFIC_MONTHS_MAX, "SpecificBillingPeriod", CHARGE)
    elif specific is not None:
        raise _bad(
            "SpecificBillingPeriod is only valid with BillingPeriod Specific_Months.",
            "SpecificBillingPeriod",
        )
    return period, specific


def _billing_timing(spec: NewCharge, charge_type: ChargeType) -> BillingTiming:
    """Timing is a choice for recurring charges only: usage is always rated in arrears."""
    if charge_type == ChargeType.Recurring:
        value = spec.billing_timing or BillingTiming.InAdvance
        return _enum(BillingTiming, value, "BillingTiming", CHARGE)
    if charge_type == ChargeType.Usage:
        return BillingTiming.InArrears
    return BillingTiming.InAdvance


def _bill_cycle(
    spec: NewCharge, cycle: BillCycleType, period: BillingPeriod | None
) -> tuple[int | None, WeekDay | None]:
    weekly = period == BillingPeriod.Week
    day = spec.bill_cycle_day
    if cycle == BillCycleType.SpecificDayofMonth:
        if day is None:
            raise _needs(
                "BillCycleDay is required with BillCycleType SpecificDayofMonth.", "BillCycleDay"
            )
        _int_in_range(day, 1, BILL_CYCLE_DAY_MAX, "BillCycleDay", CHARGE)
        if weekly:
            raise _bad(
                "BillCycleType SpecificDayofMonth cannot be used with BillingPeriod Week; "
                "use SpecificDayofWeek with WeeklyBillCycleDay.",
                "BillCycleType",
            )
    elif day is not None:
        raise _bad(
            "BillCycleDay is only valid with BillCycleType SpecificDayofMonth.", "BillCycleDay"
        )
    weekday = None
    if spec.weekly_bill_cycle_day is not None:
        weekday = _enum(WeekDay, spec.weekly_bill_cycle_day, "WeeklyBillCycleDay", CHARGE)
        if period is not None and not weekly:
            raise _bad(
                "WeeklyBillCycleDay is only valid with BillingPeriod Week.", "WeeklyBillCycleDay"
            )
    if cycle == BillCycleType.SpecificDayofWeek:
        if period is not None and not weekly:
            raise _bad("BillCycleType SpecificDayofWeek needs BillingPeriod Week.", "BillCycleType")
        if weekday is None:
            raise _needs(
                "WeeklyBillCycleDay is required with BillCycleType SpecificDayofWeek.",
                "WeeklyBillCycleDay",
            )
    return day, weekday


def _currency(value: str | None) -> str:
    if value is None:
        raise _needs("Currency is required for every tier.", "Currency")
    try:
        return normalize_currency(value)
    except DomainError as exc:
        raise _bad(exc.message, "Currency") from None


def _resolve_tiers(model: ChargeModel, tiers: Sequence[TierInput]) -> tuple[_Tier, ...]:
    if not tiers:
        raise _needs(
            "ProductRatePlanChargeTierData must give at least one price.",
            "ProductRatePlanChargeTierData",
        )
    by_currency: dict[str, list[TierInput]] = {}
    for tier in tiers:
        by_currency.setdefault(_currency(tier.currency), []).append(tier)
    resolved: list[_Tier] = []
    shared_ranges: list[tuple[Decimal | None, Decimal | None]] | None = None
    for currency in sorted(by_currency):
        items = by_currency[currency]
        if model not in _TIERED_MODELS:
            resolved.append(_single_price(model, currency, items))
            continue
        currency_tiers = _ranged_tiers(currency, items)
        ranges = [(tier.starting_unit, tier.ending_unit) for tier in currency_tiers]
        if shared_ranges is None:
            shared_ranges = ranges
        elif ranges != shared_ranges:
            raise _bad(
                f"Tier ranges must be the same in every currency; {currency} differs.",
                "ProductRatePlanChargeTier",
            )
        resolved.extend(currency_tiers)
    return tuple(resolved)


def _price(value: Decimal | None, currency: str) -> Decimal:
    if value is None:
        raise _needs(f"Price is required ({currency}).", "Price")
    return _amount(value, "Price", CHARGE)


def _single_price(model: ChargeModel, currency: str, items: list[TierInput]) -> _Tier:
    if len(items) != 1:
        raise _bad(
            f"{model.value} takes exactly one price per currency; {currency} has {len(items)}.",
            "ProductRatePlanChargeTier",
        )
    item = items[0]
    if item.tier not in (None, 1):
        raise _bad(f"{model.value} has a single tier, numbered 1 (got {item.tier}).", "Tier")
    price_format = PriceFormat.FlatFee if model == ChargeModel.FlatFee else PriceFormat.PerUnit
    return _Tier(currency, 1, None, None, _price(item.price, currency), price_format)


def _ranged_tiers(currency: str, items: list[TierInput]) -> list[_Tier]:
    numbers = [item.tier for item in items]
    if all(number is None for number in numbers):
        ordered = items
    elif any(number is None for number in numbers):
        raise _bad(f"Give Tier for every tier of {currency} or for none.", "Tier")
    else:
        ordered = sorted(items, key=lambda item: item.tier or 0)
        if [item.tier for item in ordered] != list(range(1, len(items) + 1)):
            raise _bad(
                f"Tiers of {currency} must be numbered 1 to {len(items)} without gaps or repeats.",
                "Tier",
            )
    result: list[_Tier] = []
    previous_end: Decimal | None = None
    for index, item in enumerate(ordered):
        number = index + 1
        start, end = _tier_range(currency, number, item, last=index == len(ordered) - 1)
        if previous_end is None:
            if start not in (0, 1):
                raise _bad(
                    f"The first tier must start at 0 or 1; {currency} starts at {start}.",
                    "StartingUnit",
                )
        elif start != previous_end + 1:
            problem = "overlaps" if start <= previous_end else "leaves a gap after"
            raise _bad(
                f"Tier {number} of {currency} {problem} tier {number - 1}: tier {number - 1} "
                f"ends at {previous_end}, so tier {number} must start at {previous_end + 1}, "
                f"not {start}.",
                "StartingUnit",
            )
        price_format = _enum(
            PriceFormat, item.price_format or PriceFormat.PerUnit, "PriceFormat", CHARGE
        )
        result.append(
            _Tier(currency, number, start, end, _price(item.price, currency), price_format)
        )
        previous_end = end
    return result


def _tier_range(
    currency: str, number: int, item: TierInput, *, last: bool
) -> tuple[Decimal, Decimal | None]:
    if item.starting_unit is None:
        raise _needs(f"StartingUnit is required for tier {number} of {currency}.", "StartingUnit")
    start = _amount(item.starting_unit, "StartingUnit", CHARGE)
    if item.ending_unit is None:
        if not last:
            raise _needs(
                f"EndingUnit is required for tier {number} of {currency}; only the last tier "
                "may be open-ended.",
                "EndingUnit",
            )
        return start, None
    end = _amount(item.ending_unit, "EndingUnit", CHARGE)
    if end < start:
        raise _bad(
            f"Tier {number} of {currency} ends at {end}, before it starts at {start}.", "EndingUnit"
        )
    return start, end
