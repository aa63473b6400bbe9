"""A new subscription charge: segment 1, built from a catalog charge and the subscriber's
overrides.

A subscription charge is stored as segments (see :class:`SubscriptionCharge`); later
segments are made by :mod:`billcycle.subscriptions.segments`, and a segment is rated
through :mod:`billcycle.subscriptions.rating_view`. Words and numbers are read by
:mod:`billcycle.catalog.charge_terms`, override tiers by
:mod:`billcycle.catalog.price_tiers`, with the subscription API's wording.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from billcycle.catalog import charge_terms as terms
from billcycle.catalog.models import ProductRatePlanCharge, ProductRatePlanChargeTier
from billcycle.catalog.price_tiers import TierTerms, override_tiers
from billcycle.catalog.vocabulary import (
    DISCOUNT_MODELS,
    TIERED_MODELS,
    BillCycleType,
    BillingPeriod,
    ChargeModel,
    ChargeType,
    DiscountLevel,
    EndDateCondition,
    TriggerEvent,
    WeekDay,
    discount_targets,
)
from billcycle.errors import InvalidValue, MissingField, RuleViolation, shown_number
from billcycle.rating import price_and_unit_price
from billcycle.subscriptions.checks import required_date
from billcycle.subscriptions.inputs import ChargeOverride
from billcycle.subscriptions.models import SUBSCRIPTION, SubscriptionCharge, SubscriptionChargeTier
from billcycle.subscriptions.rating_view import to_charge_terms
from billcycle.subscriptions.terms import add_days

_ONE = Decimal(1)
_ZERO = Decimal(0)
_MAX_SPECIFIC_PERIOD = 200


def _invalid(message: str, field: str | None = None) -> InvalidValue:
    return InvalidValue(message, resource=SUBSCRIPTION, field=field)


def _catalog_tiers(charge: ProductRatePlanCharge, currency: str) -> list[ProductRatePlanChargeTier]:
    return sorted((t for t in charge.tiers if t.currency == currency), key=lambda t: t.tier)


def tier_rows(tiers: Sequence[TierTerms], tenant_id: int) -> list[SubscriptionChargeTier]:
    return [
        SubscriptionChargeTier(
            tenant_id=tenant_id,
            tier=t.tier,
            starting_unit=t.starting_unit,
            ending_unit=t.ending_unit,
            price=t.price,
            price_format=t.price_format.value,
        )
        for t in tiers
    ]


# -- building segment 1 -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TriggerDates:
    """The dates a charge's trigger event can pick from."""

    contract_effective: date
    service_activation: date | None
    customer_acceptance: date | None


@dataclass(frozen=True, slots=True)
class ChargeFrame:
    """What a new charge needs to know about its subscription."""

    tenant_id: int
    subscription_id: int
    rate_plan_id: int
    account_id: int
    currency: str
    subscription_start: date
    term_start: date
    term_end: date | None  # exclusive; None for an evergreen subscription
    now: datetime


def trigger_start(event: str, dates: TriggerDates, trigger_date: date | None) -> date:
    """The effective start date a trigger event gives a charge."""
    if event == TriggerEvent.ContractEffective:
        return dates.contract_effective
    if event == TriggerEvent.ServiceActivation:
        if dates.service_activation is None:
            raise MissingField(
                "serviceActivationDate is required: a charge is triggered by service activation.",
                resource=SUBSCRIPTION,
                field="serviceActivationDate",
            )
        return dates.service_activation
    if event == TriggerEvent.CustomerAcceptance:
        if dates.customer_acceptance is None:
            raise MissingField(
                "customerAcceptanceDate is required: a charge is triggered by customer acceptance.",
                resource=SUBSCRIPTION,
                field="customerAcceptanceDate",
            )
        return dates.customer_acceptance
    return required_date(trigger_date, "triggerDate", "triggerEvent")


def _bill_cycle(
    kind: str,
    *,
    catalog: ProductRatePlanCharge,
    override: ChargeOverride | None,
    period: BillingPeriod | None,
    start: date,
    frame: ChargeFrame,
) -> tuple[int | None, str | None]:
    """(fixed bill cycle day or None for the account's, weekly bill cycle day name).

    Days that derive from a date are resolved now and stored, so later segments of the
    charge keep the same billing grid even though they start on other dates.
    """
    day = override.bill_cycle_day if override and override.bill_cycle_day is not None else None
    weekly_text = (
        override.weekly_bill_cycle_day
        if override and override.weekly_bill_cycle_day is not None
        else catalog.weekly_bill_cycle_day
    )
    weekly = terms.weekday(weekly_text, resource=SUBSCRIPTION) if weekly_text else None
    if day is not None and kind != BillCycleType.SpecificDayofMonth:
        raise _invalid(
            "Invalid value for billCycleDay: it applies only with billCycleType "
            "SpecificDayofMonth.",
            "billCycleDay",
        )
    if kind == BillCycleType.SpecificDayofMonth:
        fixed = day if day is not None else catalog.bill_cycle_day
        if fixed is None:
            raise MissingField(
                "billCycleDay is required when billCycleType is SpecificDayofMonth.",
                resource=SUBSCRIPTION,
                field="billCycleDay",
            )
        monthly: int | None = fixed
    elif kind == BillCycleType.SubscriptionStartDay:
        monthly = frame.subscription_start.day
    elif kind == BillCycleType.TermStartDay:
        monthly = frame.term_start.day
    elif kind == BillCycleType.ChargeTriggerDay:
        monthly = start.day
    else:
        monthly = None
    if monthly is not None and not 1 <= monthly <= 31:
        raise _invalid(f"Invalid value for billCycleDay: {monthly}. Use 1 to 31.", "billCycleDay")
    if period == BillingPeriod.Week:
        if kind == BillCycleType.SpecificDayofWeek:
            if weekly is None:
                raise MissingField(
                    "weeklyBillCycleDay is required when billCycleType is SpecificDayofWeek.",
                    resource=SUBSCRIPTION,
                    field="weeklyBillCycleDay",
                )
        else:
            # No weekly bill cycle day on accounts: weekly charges bill on their start's
            # weekday, pinned now so later segments keep that weekday.
            weekly = WeekDay.of(start.weekday())
    elif kind == BillCycleType.SpecificDayofWeek:
        raise _invalid(
            "billCycleType SpecificDayofWeek needs a weekly billing period.", "billCycleType"
        )
    else:
        weekly = None
    return monthly, weekly


def _price_terms(
    catalog: ProductRatePlanCharge,
    override: ChargeOverride | None,
    model: ChargeModel,
    currency: str,
) -> tuple[Decimal | None, tuple[TierTerms, ...]]:
    """(unit or flat price, tiers): the account currency's catalog price unless overridden."""
    rows = _catalog_tiers(catalog, currency)
    if not rows:
        raise _invalid(
            f"Charge '{catalog.name}' has no price in the account's currency {currency}.",
            "currency",
        )
    catalog_tiers = tuple(
        TierTerms(
            tier=row.tier,
            starting_unit=row.starting_unit,
            ending_unit=row.ending_unit,
            price=row.price,
            price_format=terms.price_format(row.price_format, resource=SUBSCRIPTION),
        )
        for row in rows
    )
    given_tiers = (
        override_tiers(override.tiers, resource=SUBSCRIPTION)
        if override and override.tiers is not None
        else None
    )
    override_price = (
        terms.exact_number(override.price, "price", resource=SUBSCRIPTION, negative=False)
        if override and override.price is not None
        else None
    )
    if model in TIERED_MODELS:
        if override_price is not None:
            raise _invalid(
                f"Invalid value for price: charge '{catalog.name}' uses {model.value}; "
                "override its tiers instead.",
                "price",
            )
        return None, given_tiers if given_tiers is not None else catalog_tiers
    if given_tiers is not None:
        if len(given_tiers) != 1:
            raise _invalid(
                f"Invalid value for tiers: charge '{catalog.name}' uses {model.value}, "
                "which has a single price.",
                "tiers",
            )
        if override_price is None:
            override_price = given_tiers[0].price
    return (override_price if override_price is not None else catalog_tiers[0].price), ()


def build_charge(
    catalog: ProductRatePlanCharge,
    override: ChargeOverride | None,
    *,
    frame: ChargeFrame,
    dates: TriggerDates,
    charge_number: str,
) -> SubscriptionCharge:
    """Segment 1 of a new subscription charge, validated and ready to add."""
    kind = terms.charge_type(catalog.charge_type, resource=SUBSCRIPTION)
    model = terms.charge_model(catalog.charge_model, resource=SUBSCRIPTION)
    event = terms.trigger_event(
        override.trigger_event if override and override.trigger_event else catalog.trigger_event,
        resource=SUBSCRIPTION,
    )
    start = trigger_start(event, dates, override.trigger_date if override else None)
    if override and override.end_date_condition not in (None, EndDateCondition.SubscriptionEnd):
        raise _invalid(
            f"Invalid value for endDateCondition: '{override.end_date_condition}'. "
            f"Only {EndDateCondition.SubscriptionEnd} is supported.",
            "endDateCondition",
        )

    period: BillingPeriod | None = None
    specific: int | None = None
    if kind != ChargeType.OneTime:
        period_text = (
            override.billing_period
            if override and override.billing_period
            else catalog.billing_period or BillingPeriod.Month.value
        )
        period = terms.billing_period(period_text, resource=SUBSCRIPTION)
        if period == BillingPeriod.Specific_Months:
            specific = (
                override.specific_billing_period
                if override and override.specific_billing_period is not None
                else catalog.specific_billing_period
            )
            if specific is None or not 1 <= specific <= _MAX_SPECIFIC_PERIOD:
                raise _invalid(
                    "Invalid value for specificBillingPeriod: Specific_Months needs 1 to "
                    f"{_MAX_SPECIFIC_PERIOD} months.",
                    "specificBillingPeriod",
                )
    timing = terms.billing_timing(
        override.billing_timing if override and override.billing_timing else catalog.billing_timing,
        resource=SUBSCRIPTION,
    )
    cycle_kind = terms.bill_cycle_type(
        override.bill_cycle_type
        if override and override.bill_cycle_type
        else catalog.bill_cycle_type or BillCycleType.DefaultFromCustomer,
        resource=SUBSCRIPTION,
    )
    bcd, weekly = _bill_cycle(
        cycle_kind, catalog=catalog, override=override, period=period, start=start, frame=frame
    )
    price, tiers = _price_terms(catalog, override, model, frame.currency)
    if override and override.quantity is not None:
        quantity = terms.exact_number(
            override.quantity, "quantity", resource=SUBSCRIPTION, negative=False
        )
    else:
        quantity = catalog.default_quantity if catalog.default_quantity is not None else _ONE

    if kind == ChargeType.OneTime:
        end: date | None = add_days(start, 1)
    else:
        end = frame.term_end
        if end is not None and start >= end:
            raise RuleViolation(
                f"Charge '{catalog.name}' would start on {start.isoformat()}, on or after "
                f"the term end {end.isoformat()}.",
                resource=SUBSCRIPTION,
            )
    description = override.description if override and override.description else None
    if description is not None and ("\x00" in description or len(description) > 500):
        raise _invalid(
            "Invalid value for description: at most 500 characters and no NUL.", "description"
        )
    charge = SubscriptionCharge(
        tenant_id=frame.tenant_id,
        subscription_rate_plan_id=frame.rate_plan_id,
        subscription_id=frame.subscription_id,
        account_id=frame.account_id,
        product_rate_plan_charge_id=catalog.id,
        charge_number=charge_number,
        segment=1,
        is_last_segment=True,
        grid_start_date=start,
        name=catalog.name,
        description=description if description is not None else catalog.description,
        charge_type=kind.value,
        charge_model=model.value,
        billing_period=period.value if period is not None else None,
        specific_billing_period=specific,
        billing_timing=timing.value,
        bill_cycle_type=cycle_kind,
        bill_cycle_day=bcd,
        weekly_bill_cycle_day=weekly,
        trigger_event=event,
        currency=frame.currency,
        quantity=quantity,
        price=price,
        uom=catalog.uom,
        included_units=catalog.included_units,
        **_discount_terms(catalog, override, model, price),
        effective_start_date=start,
        effective_end_date=end,
        created_at=frame.now,
        updated_at=frame.now,
    )
    charge.tiers = tier_rows(tiers, frame.tenant_id)
    check_rateable(charge)
    return charge


def _discount_terms(
    catalog: ProductRatePlanCharge,
    override: ChargeOverride | None,
    model: ChargeModel,
    price: Decimal | None,
) -> dict[str, Any]:
    """A discount charge's level, targets and period limit: the catalog's unless the
    charge override gives its own (Zuora's subscription charge overrides)."""
    given = (
        (override.apply_discount_to, override.discount_level, override.up_to_periods)
        if override
        else (None, None, None)
    )
    if model not in DISCOUNT_MODELS:
        if any(value is not None for value in given):
            raise _invalid(
                f"Charge '{catalog.name}' is not a discount: applyDiscountTo, discountLevel "
                "and upToPeriods do not apply.",
                "applyDiscountTo",
            )
        return {}
    apply_to = (given[0] or catalog.apply_discount_to or "RECURRING").strip().upper()
    if discount_targets(apply_to) is None:
        raise _invalid(
            f"Invalid value for applyDiscountTo: {given[0]!r}. Allowed: ONETIME, RECURRING, "
            "USAGE, or several written together (e.g. RECURRINGUSAGE).",
            "applyDiscountTo",
        )
    level = given[1] or catalog.discount_level or DiscountLevel.RatePlan.value
    if level not in {lv.value for lv in DiscountLevel}:
        raise _invalid(
            f"Invalid value for discountLevel: {level!r}. Allowed: rateplan, subscription, "
            "account.",
            "discountLevel",
        )
    periods = given[2] if given[2] is not None else catalog.up_to_periods
    if periods is not None and periods < 1:
        raise _invalid("Invalid value for upToPeriods: at least 1.", "upToPeriods")
    if price is not None and model == ChargeModel.DiscountPercentage and not 0 < price <= 100:
        raise _invalid(
            "Invalid value for discountPercentage: more than 0 and at most 100, got "
            f"{shown_number(price)}.",
            "discountPercentage",
        )
    if price is not None and model == ChargeModel.DiscountFixed and price <= 0:
        raise _invalid(
            f"Invalid value for discountAmount: more than 0, got {shown_number(price)}.",
            "discountAmount",
        )
    return {"apply_discount_to": apply_to, "discount_level": level, "up_to_periods": periods}


def check_rateable(charge: SubscriptionCharge) -> None:
    """Refuse terms the rating engine could not price (e.g. a quantity beyond every
    volume tier) now, rather than failing a bill run later."""
    try:
        price_and_unit_price(to_charge_terms(charge, charge.bill_cycle_day or 1))
    except ValueError as exc:
        raise _invalid(f"Charge '{charge.name}' cannot be priced: {exc}") from None
