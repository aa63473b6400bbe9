"""A catalog charge's complete terms, resolved from what a caller gave.

Every write validates the complete resulting charge (an update is merged into the stored
charge first), so a charge can never be left in a shape rating cannot price. Zuora's
defaults fill what was not given (``DefaultFromCustomer``, ``ContractEffective``,
``IN_ADVANCE`` for recurring charges, a default quantity of 1 for per-unit ones).
Pure: the service stores what :func:`resolve` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import Any

from billcycle.catalog import charge_terms as terms
from billcycle.catalog.inputs import ChargeChanges, NewCharge, TierInput
from billcycle.catalog.models import CHARGE, ProductRatePlanCharge, ProductRatePlanChargeTier
from billcycle.catalog.price_tiers import CatalogTier, catalog_tiers, tier_currency
from billcycle.catalog.vocabulary import (
    CATALOG_BILL_CYCLE_TYPES,
    CATALOG_TRIGGER_EVENTS,
    DISCOUNT_MODELS,
    BillCycleType,
    BillingPeriod,
    BillingTiming,
    ChargeModel,
    ChargeType,
    DiscountLevel,
    PriceFormat,
    TriggerEvent,
    WeekDay,
    discount_targets,
)
from billcycle.errors import InvalidValue, MissingField, shown_number
from billcycle.unset import UNSET

CHARGE_NAME_MAX = 100
DESCRIPTION_MAX = 500
UOM_MAX = 25
BILL_CYCLE_DAY_MAX = 31
# A hundred years: beyond that period arithmetic would leave the calendar.
SPECIFIC_MONTHS_MAX = 1200
_ONE = Decimal(1)
_ZERO_UNITS = Decimal(0)


def _bad(message: str, field: str) -> InvalidValue:
    return InvalidValue(message, resource=CHARGE, field=field)


def _needs(message: str, field: str) -> MissingField:
    return MissingField(message, resource=CHARGE, field=field)


@dataclass(frozen=True, slots=True)
class ResolvedCharge:
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
    included_units: Decimal | None
    discount_level: str | None
    apply_discount_to: str | None
    up_to_periods: int | None
    tiers: tuple[CatalogTier, ...]


def resolve(spec: NewCharge) -> ResolvedCharge:
    charge_type = terms.choice(ChargeType, spec.charge_type, "ChargeType", CHARGE)
    model = terms.choice(ChargeModel, spec.charge_model, "ChargeModel", CHARGE)
    periodic = charge_type != ChargeType.OneTime
    period, specific = _billing_period(spec, periodic)
    cycle = terms.choice(
        BillCycleType,
        spec.bill_cycle_type or BillCycleType.DefaultFromCustomer,
        "BillCycleType",
        CHARGE,
        CATALOG_BILL_CYCLE_TYPES,
    )
    bill_cycle_day, weekday = _bill_cycle(spec, cycle, period)
    quantity = None
    if model != ChargeModel.FlatFee and charge_type != ChargeType.Usage:
        given = spec.default_quantity
        quantity = _ONE if given is None else terms.amount(given, "DefaultQuantity", CHARGE)
    return ResolvedCharge(
        name=terms.required_text(spec.name, "Name", CHARGE, CHARGE_NAME_MAX),
        description=terms.text(spec.description, "Description", CHARGE, DESCRIPTION_MAX),
        charge_type=charge_type,
        charge_model=model,
        billing_period=period,
        specific_billing_period=specific,
        billing_timing=_billing_timing(spec, charge_type),
        bill_cycle_type=cycle,
        bill_cycle_day=bill_cycle_day,
        weekly_bill_cycle_day=weekday,
        trigger_event=terms.choice(
            TriggerEvent,
            spec.trigger_event or TriggerEvent.ContractEffective,
            "TriggerEvent",
            CHARGE,
            CATALOG_TRIGGER_EVENTS,
        ),
        default_quantity=quantity,
        uom=terms.text(spec.uom, "UOM", CHARGE, UOM_MAX),
        included_units=_included_units(spec, model, charge_type),
        **_discount(spec, model, charge_type),
        tiers=_discount_tiers(model, catalog_tiers(model, spec.tiers)),
    )


def _discount(spec: NewCharge, model: ChargeModel, charge_type: ChargeType) -> dict[str, Any]:
    """A discount charge's level, targets and period limit (Recurring discounts only)."""
    given = (spec.discount_level, spec.apply_discount_to, spec.up_to_periods)
    if model not in DISCOUNT_MODELS:
        if any(value is not None for value in given):
            raise _bad(
                "DiscountLevel, ApplyDiscountTo and UpToPeriods are only valid with a "
                "Discount-Percentage or Discount-Fixed Amount charge.",
                "DiscountLevel",
            )
        return {"discount_level": None, "apply_discount_to": None, "up_to_periods": None}
    if charge_type != ChargeType.Recurring:
        raise _bad(
            f"ChargeModel {model.value} needs ChargeType Recurring (billcycle bills "
            "discounts per billing period).",
            "ChargeType",
        )
    level = terms.choice(
        DiscountLevel, spec.discount_level or DiscountLevel.RatePlan, "DiscountLevel", CHARGE
    )
    apply_to = (spec.apply_discount_to or "RECURRING").strip().upper()
    if discount_targets(apply_to) is None:
        raise _bad(
            f"Invalid value for ApplyDiscountTo: {spec.apply_discount_to!r}. Allowed: "
            "ONETIME, RECURRING, USAGE, or several of them written together "
            "(e.g. ONETIMERECURRING, RECURRINGUSAGE).",
            "ApplyDiscountTo",
        )
    periods = spec.up_to_periods
    if periods is not None:
        terms.int_in_range(periods, 1, 10_000, "UpToPeriods", CHARGE)
    return {"discount_level": level.value, "apply_discount_to": apply_to, "up_to_periods": periods}


def _discount_tiers(model: ChargeModel, tiers: tuple[CatalogTier, ...]) -> tuple[CatalogTier, ...]:
    """A percentage discount is 0 to 100 (percent); a fixed discount a positive amount."""
    for tier in tiers:
        if model == ChargeModel.DiscountPercentage and not 0 < tier.price <= 100:
            raise _bad(
                "DiscountPercentage must be more than 0 and at most 100, got "
                f"{shown_number(tier.price)}.",
                "DiscountPercentage",
            )
        if model == ChargeModel.DiscountFixed and tier.price <= 0:
            raise _bad(
                f"DiscountAmount must be more than 0, got {shown_number(tier.price)}.",
                "DiscountAmount",
            )
    return tiers


def _included_units(spec: NewCharge, model: ChargeModel, charge_type: ChargeType) -> Decimal | None:
    """Overage Pricing is a usage model with the units each period includes."""
    if model != ChargeModel.Overage:
        if spec.included_units is not None:
            raise _bad(
                "IncludedUnits is only valid with ChargeModel Overage Pricing.", "IncludedUnits"
            )
        return None
    if charge_type != ChargeType.Usage:
        raise _bad("ChargeModel Overage Pricing is only valid for Usage charges.", "ChargeModel")
    given = spec.included_units
    return _ZERO_UNITS if given is None else terms.amount(given, "IncludedUnits", CHARGE)


def _billing_period(spec: NewCharge, periodic: bool) -> tuple[BillingPeriod | None, int | None]:
    """One-time charges have no period: whatever was sent is ignored, as Zuora does."""
    if not periodic:
        return None, None
    if spec.billing_period is None:
        raise _needs("BillingPeriod is required for Recurring and Usage charges.", "BillingPeriod")
    period = terms.choice(BillingPeriod, spec.billing_period, "BillingPeriod", CHARGE)
    specific = spec.specific_billing_period
    if period == BillingPeriod.Specific_Months:
        if specific is None:
            raise _needs(
                "SpecificBillingPeriod is required with BillingPeriod Specific_Months.",
                "SpecificBillingPeriod",
            )
        terms.int_in_range(specific, 1, SPECIFIC_MONTHS_MAX, "SpecificBillingPeriod", CHARGE)
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
        return terms.choice(BillingTiming, value, "BillingTiming", CHARGE)
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
        terms.int_in_range(day, 1, BILL_CYCLE_DAY_MAX, "BillCycleDay", CHARGE)
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
        weekday = terms.choice(WeekDay, spec.weekly_bill_cycle_day, "WeeklyBillCycleDay", CHARGE)
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


# -- updates: the stored charge, merged with a partial change ---------------------------------


def as_new_charge(charge: ProductRatePlanCharge) -> NewCharge:
    """The stored charge as the complete input that would create it."""
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
        included_units=charge.included_units,
        discount_level=charge.discount_level,
        apply_discount_to=charge.apply_discount_to,
        up_to_periods=charge.up_to_periods,
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


def merge(current: NewCharge, changes: ChargeChanges) -> NewCharge:
    """``current`` with ``changes`` applied; tiers given for a currency replace that
    currency's tiers."""
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
        replaced = {tier_currency(tier.currency) for tier in changes.tiers}
        kept = [tier for tier in current.tiers if tier.currency not in replaced]
        given["tiers"] = [*kept, *changes.tiers]
    return replace(current, **given)


def apply(charge: ProductRatePlanCharge, resolved: ResolvedCharge) -> None:
    """Write the resolved terms (not the tiers) onto the stored charge."""
    charge.name = resolved.name
    charge.description = resolved.description
    charge.charge_type = resolved.charge_type.value
    charge.charge_model = resolved.charge_model.value
    charge.billing_period = resolved.billing_period.value if resolved.billing_period else None
    charge.specific_billing_period = resolved.specific_billing_period
    charge.billing_timing = resolved.billing_timing.value
    charge.bill_cycle_type = resolved.bill_cycle_type.value
    charge.bill_cycle_day = resolved.bill_cycle_day
    wday = resolved.weekly_bill_cycle_day
    charge.weekly_bill_cycle_day = wday.value if wday else None
    charge.trigger_event = resolved.trigger_event.value
    charge.default_quantity = resolved.default_quantity
    charge.uom = resolved.uom
    charge.included_units = resolved.included_units
    charge.discount_level = resolved.discount_level
    charge.apply_discount_to = resolved.apply_discount_to
    charge.up_to_periods = resolved.up_to_periods


def tier_rows(tenant_id: int, resolved: ResolvedCharge) -> list[ProductRatePlanChargeTier]:
    return [
        ProductRatePlanChargeTier(
            tenant_id=tenant_id,
            currency=tier.currency,
            tier=tier.tier,
            starting_unit=tier.starting_unit,
            ending_unit=tier.ending_unit,
            price=tier.price,
            price_format=tier.price_format.value,
        )
        for tier in resolved.tiers
    ]


def tier_of_row(row: ProductRatePlanChargeTier) -> CatalogTier:
    return CatalogTier(
        currency=row.currency,
        tier=row.tier,
        starting_unit=row.starting_unit,
        ending_unit=row.ending_unit,
        price=row.price,
        price_format=PriceFormat(row.price_format),
    )
