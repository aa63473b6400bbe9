"""Subscription charges as segments: built from the catalog, split by amendments, rated.

A subscription charge is stored as segments (see :class:`SubscriptionCharge`). This
module builds segment 1 from a catalog charge plus the subscriber's overrides, starts a
following segment when terms change, and turns a segment into the rating engine's
:class:`~billcycle.rating.ChargeTerms`. It never computes what to bill: ending a segment
before its ``billed_through`` is all it takes for rating to credit the difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from billcycle.catalog.models import ProductRatePlanCharge, ProductRatePlanChargeTier
from billcycle.errors import InvalidValue, MissingField, RuleViolation
from billcycle.rating import (
    BillingPeriod,
    BillingTiming,
    ChargeModel,
    ChargeTerms,
    ChargeType,
    PriceFormat,
    Tier,
    price_and_unit_price,
)
from billcycle.subscriptions.inputs import ChargeOverride, TierInput
from billcycle.subscriptions.models import SubscriptionCharge, SubscriptionChargeTier
from billcycle.subscriptions.terms import add_days, months_between

SUBSCRIPTION = "subscription"

# Values at most this large fit NUMERIC(28, 9) with room to multiply by a quantity.
_MAX_MAGNITUDE = Decimal(10) ** 18
_PRICE_SCALE = 9
_ONE = Decimal(1)
_ZERO = Decimal(0)
_MAX_SPECIFIC_PERIOD = 200

# Trigger events: which subscription date starts a charge.
CONTRACT_EFFECTIVE = "ContractEffective"
SERVICE_ACTIVATION = "ServiceActivation"
CUSTOMER_ACCEPTANCE = "CustomerAcceptance"
SPECIFIC_DATE = "SpecificDate"
TRIGGER_EVENTS = (CONTRACT_EFFECTIVE, SERVICE_ACTIVATION, CUSTOMER_ACCEPTANCE, SPECIFIC_DATE)

# Bill cycle types: where a charge's bill cycle day comes from.
DEFAULT_FROM_CUSTOMER = "DefaultFromCustomer"
SPECIFIC_DAY_OF_MONTH = "SpecificDayofMonth"
SUBSCRIPTION_START_DAY = "SubscriptionStartDay"
CHARGE_TRIGGER_DAY = "ChargeTriggerDay"
SPECIFIC_DAY_OF_WEEK = "SpecificDayofWeek"
TERM_START_DAY = "TermStartDay"
BILL_CYCLE_TYPES = (
    DEFAULT_FROM_CUSTOMER,
    SPECIFIC_DAY_OF_MONTH,
    SUBSCRIPTION_START_DAY,
    CHARGE_TRIGGER_DAY,
    SPECIFIC_DAY_OF_WEEK,
    TERM_START_DAY,
)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

SUBSCRIPTION_END = "Subscription_End"

# Zuora spells several enums differently in its catalog and subscription APIs ("Flat Fee
# Pricing" / "FlatFee", "In Advance" / "IN_ADVANCE", "Semi-Annual" / "Semi_Annual"):
# accept every spelling, store the rating engine's.
_MODELS: dict[str, ChargeModel] = {
    "flatfeepricing": ChargeModel.FlatFee,
    "flatfee": ChargeModel.FlatFee,
    "perunitpricing": ChargeModel.PerUnit,
    "perunit": ChargeModel.PerUnit,
    "tieredpricing": ChargeModel.Tiered,
    "tiered": ChargeModel.Tiered,
    "volumepricing": ChargeModel.Volume,
    "volume": ChargeModel.Volume,
}
_TIMINGS: dict[str, BillingTiming] = {
    "inadvance": BillingTiming.InAdvance,
    "inarrears": BillingTiming.InArrears,
}
_PRICE_FORMATS: dict[str, PriceFormat] = {
    "perunit": PriceFormat.PerUnit,
    "flatfee": PriceFormat.FlatFee,
}
_PERIODS: dict[str, BillingPeriod] = {p.value.lower(): p for p in BillingPeriod}
_TYPES: dict[str, ChargeType] = {t.value.lower(): t for t in ChargeType}


def _squash(value: str) -> str:
    return value.replace(" ", "").replace("_", "").replace("-", "").lower()


def _invalid(message: str, field: str | None = None) -> InvalidValue:
    return InvalidValue(message, resource=SUBSCRIPTION, field=field)


def _choices(values: Iterable[str]) -> str:
    return ", ".join(values)


# -- enum normalization -------------------------------------------------------------------


def charge_type(value: str) -> ChargeType:
    found = _TYPES.get(_squash(value))
    if found is None:
        raise RuleViolation(f"Charge type '{value}' is not supported.", resource=SUBSCRIPTION)
    return found


def charge_model(value: str) -> ChargeModel:
    found = _MODELS.get(_squash(value))
    if found is None:
        raise RuleViolation(
            f"Charge model '{value}' is not supported: use one of "
            f"{_choices(m.value for m in ChargeModel)}.",
            resource=SUBSCRIPTION,
        )
    return found


def billing_timing(value: str, field: str = "billingTiming") -> BillingTiming:
    found = _TIMINGS.get(_squash(value))
    if found is None:
        raise _invalid(
            f"Invalid value for {field}: '{value}'. Use IN_ADVANCE or IN_ARREARS.", field
        )
    return found


def billing_period(value: str, field: str = "billingPeriod") -> BillingPeriod:
    found = _PERIODS.get(value.strip().replace(" ", "_").replace("-", "_").lower())
    if found is None:
        raise _invalid(
            f"Invalid value for {field}: '{value}'. Supported billing periods: "
            f"{_choices(p.value for p in BillingPeriod)}.",
            field,
        )
    return found


def price_format(value: str | None, field: str = "priceFormat") -> PriceFormat:
    if value is None:
        return PriceFormat.PerUnit
    found = _PRICE_FORMATS.get(_squash(value))
    if found is None:
        raise _invalid(f"Invalid value for {field}: '{value}'. Use PerUnit or FlatFee.", field)
    return found


def match_name(value: str, known: Sequence[str], field: str) -> str:
    """``value`` spelled as in ``known`` (case-insensitively), or InvalidValue."""
    for name in known:
        if name.lower() == value.strip().lower():
            return name
    raise _invalid(f"Invalid value for {field}: '{value}'. Use one of {_choices(known)}.", field)


def trigger_event(value: str, field: str = "triggerEvent") -> str:
    return match_name(value, TRIGGER_EVENTS, field)


def bill_cycle_type(value: str, field: str = "billCycleType") -> str:
    return match_name(value, BILL_CYCLE_TYPES, field)


def weekday_name(value: str, field: str = "weeklyBillCycleDay") -> str:
    return match_name(value, WEEKDAYS, field)


# -- numbers --------------------------------------------------------------------------------


def exact_number(value: Decimal, field: str, *, negative: bool = True) -> Decimal:
    """A price, quantity or unit bound that the database stores exactly."""
    if not value.is_finite():
        raise _invalid(f"Invalid value for {field}: '{value}' is not a number.", field)
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_PRICE_SCALE:
        raise _invalid(
            f"Invalid value for {field}: {value} has more than {_PRICE_SCALE} decimal places.",
            field,
        )
    if abs(value) >= _MAX_MAGNITUDE:
        raise _invalid(f"Invalid value for {field}: {value} is too large.", field)
    if not negative and value < 0:
        raise _invalid(f"Invalid value for {field}: {value} must not be negative.", field)
    return value.normalize() if value else _ZERO


def _quantity(value: Decimal, field: str = "quantity") -> Decimal:
    return exact_number(value, field, negative=False)


# -- tiers ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TierTerms:
    tier: int
    starting_unit: Decimal | None
    ending_unit: Decimal | None
    price: Decimal
    price_format: PriceFormat


def _catalog_tiers(charge: ProductRatePlanCharge, currency: str) -> list[ProductRatePlanChargeTier]:
    return sorted((t for t in charge.tiers if t.currency == currency), key=lambda t: t.tier)


def tiers_from_input(tiers: Sequence[TierInput], field: str = "tiers") -> tuple[TierTerms, ...]:
    if not tiers:
        raise _invalid(f"Invalid value for {field}: at least one tier is required.", field)
    ordered = sorted(tiers, key=lambda t: t.tier)
    if [t.tier for t in ordered] != list(range(1, len(ordered) + 1)):
        raise _invalid(f"Invalid value for {field}: tiers must be numbered 1, 2, 3, ...", field)
    result: list[TierTerms] = []
    previous_end: Decimal | None = None
    for position, tier in enumerate(ordered):
        name = f"{field}[{tier.tier}]"
        if tier.starting_unit is not None:
            start = _quantity(tier.starting_unit, f"{name}.startingUnit")
        else:
            # Zuora writes tiers as 0-10, 11-20, ...: the next tier starts one unit later.
            start = previous_end + _ONE if previous_end is not None else _ZERO
        end = (
            _quantity(tier.ending_unit, f"{name}.endingUnit")
            if tier.ending_unit is not None
            else None
        )
        if end is None and position != len(ordered) - 1:
            raise _invalid(f"Invalid value for {name}.endingUnit: only the last tier may be open.")
        if end is not None and end < start:
            raise _invalid(f"Invalid value for {name}: endingUnit is below startingUnit.")
        result.append(
            TierTerms(
                tier=tier.tier,
                starting_unit=start,
                ending_unit=end,
                price=exact_number(tier.price, f"{name}.price"),
                price_format=price_format(tier.price_format, f"{name}.priceFormat"),
            )
        )
        previous_end = end
    return tuple(result)


def _tier_rows(tiers: Sequence[TierTerms], tenant_id: int) -> list[SubscriptionChargeTier]:
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


def _is_tiered(model: ChargeModel) -> bool:
    return model in (ChargeModel.Tiered, ChargeModel.Volume)


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
    if event == CONTRACT_EFFECTIVE:
        return dates.contract_effective
    if event == SERVICE_ACTIVATION:
        if dates.service_activation is None:
            raise MissingField(
                "serviceActivationDate is required: a charge is triggered by service activation.",
                resource=SUBSCRIPTION,
                field="serviceActivationDate",
            )
        return dates.service_activation
    if event == CUSTOMER_ACCEPTANCE:
        if dates.customer_acceptance is None:
            raise MissingField(
                "customerAcceptanceDate is required: a charge is triggered by customer acceptance.",
                resource=SUBSCRIPTION,
                field="customerAcceptanceDate",
            )
        return dates.customer_acceptance
    if trigger_date is None:
        raise MissingField(
            "triggerDate is required when triggerEvent is SpecificDate.",
            resource=SUBSCRIPTION,
            field="triggerDate",
        )
    return trigger_date


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
    weekly = weekday_name(weekly_text) if weekly_text else None
    if day is not None and kind != SPECIFIC_DAY_OF_MONTH:
        raise _invalid(
            "Invalid value for billCycleDay: it applies only with billCycleType "
            "SpecificDayofMonth.",
            "billCycleDay",
        )
    if kind == SPECIFIC_DAY_OF_MONTH:
        fixed = day if day is not None else catalog.bill_cycle_day
        if fixed is None:
            raise MissingField(
                "billCycleDay is required when billCycleType is SpecificDayofMonth.",
                resource=SUBSCRIPTION,
                field="billCycleDay",
            )
        monthly: int | None = fixed
    elif kind == SUBSCRIPTION_START_DAY:
        monthly = frame.subscription_start.day
    elif kind == TERM_START_DAY:
        monthly = frame.term_start.day
    elif kind == CHARGE_TRIGGER_DAY:
        monthly = start.day
    else:
        monthly = None
    if monthly is not None and not 1 <= monthly <= 31:
        raise _invalid(f"Invalid value for billCycleDay: {monthly}. Use 1 to 31.", "billCycleDay")
    if period == BillingPeriod.Week:
        if kind == SPECIFIC_DAY_OF_WEEK:
            if weekly is None:
                raise MissingField(
                    "weeklyBillCycleDay is required when billCycleType is SpecificDayofWeek.",
                    resource=SUBSCRIPTION,
                    field="weeklyBillCycleDay",
                )
        else:
            # No weekly bill cycle day on accounts: weekly charges bill on their start's
            # weekday, pinned now so later segments keep that weekday.
            weekly = WEEKDAYS[start.weekday()]
    elif kind == SPECIFIC_DAY_OF_WEEK:
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
            price_format=price_format(row.price_format),
        )
        for row in rows
    )
    override_tiers = (
        tiers_from_input(override.tiers) if override and override.tiers is not None else None
    )
    override_price = (
        exact_number(override.price, "price") if override and override.price is not None else None
    )
    if _is_tiered(model):
        if override_price is not None:
            raise _invalid(
                f"Invalid value for price: charge '{catalog.name}' uses {model.value}; "
                "override its tiers instead.",
                "price",
            )
        return None, override_tiers if override_tiers is not None else catalog_tiers
    if override_tiers is not None:
        if len(override_tiers) != 1:
            raise _invalid(
                f"Invalid value for tiers: charge '{catalog.name}' uses {model.value}, "
                "which has a single price.",
                "tiers",
            )
        if override_price is None:
            override_price = override_tiers[0].price
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
    kind = charge_type(catalog.charge_type)
    model = charge_model(catalog.charge_model)
    event = trigger_event(
        override.trigger_event if override and override.trigger_event else catalog.trigger_event
    )
    start = trigger_start(event, dates, override.trigger_date if override else None)
    if override and override.end_date_condition not in (None, SUBSCRIPTION_END):
        raise _invalid(
            f"Invalid value for endDateCondition: '{override.end_date_condition}'. "
            f"Only {SUBSCRIPTION_END} is supported.",
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
        period = billing_period(period_text)
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
    timing = billing_timing(
        override.billing_timing if override and override.billing_timing else catalog.billing_timing
    )
    cycle_kind = bill_cycle_type(
        override.bill_cycle_type
        if override and override.bill_cycle_type
        else catalog.bill_cycle_type or DEFAULT_FROM_CUSTOMER
    )
    bcd, weekly = _bill_cycle(
        cycle_kind, catalog=catalog, override=override, period=period, start=start, frame=frame
    )
    price, tiers = _price_terms(catalog, override, model, frame.currency)
    if override and override.quantity is not None:
        quantity = _quantity(override.quantity)
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
        effective_start_date=start,
        effective_end_date=end,
        created_at=frame.now,
        updated_at=frame.now,
    )
    charge.tiers = _tier_rows(tiers, frame.tenant_id)
    check_rateable(charge)
    return charge


def check_rateable(charge: SubscriptionCharge) -> None:
    """Refuse terms the rating engine could not price (e.g. a quantity beyond every
    volume tier) now, rather than failing a bill run later."""
    try:
        price_and_unit_price(to_charge_terms(charge, charge.bill_cycle_day or 1))
    except ValueError as exc:
        raise _invalid(f"Charge '{charge.name}' cannot be priced: {exc}") from None


# -- later segments -------------------------------------------------------------------------


def successor(
    current: SubscriptionCharge,
    start: date,
    end: date | None,
    now: datetime,
    *,
    segment: int | None = None,
) -> SubscriptionCharge:
    """A new last segment of ``current``'s charge on ``[start, end)`` with its terms,
    numbered ``segment`` (default: the one after ``current``).

    ``current`` keeps its dates; the caller changes the successor's terms. The successor
    has billed nothing yet.
    """
    following = SubscriptionCharge(
        tenant_id=current.tenant_id,
        subscription_rate_plan_id=current.subscription_rate_plan_id,
        subscription_id=current.subscription_id,
        account_id=current.account_id,
        product_rate_plan_charge_id=current.product_rate_plan_charge_id,
        charge_number=current.charge_number,
        segment=segment if segment is not None else current.segment + 1,
        is_last_segment=True,
        name=current.name,
        description=current.description,
        charge_type=current.charge_type,
        charge_model=current.charge_model,
        billing_period=current.billing_period,
        specific_billing_period=current.specific_billing_period,
        billing_timing=current.billing_timing,
        bill_cycle_type=current.bill_cycle_type,
        bill_cycle_day=current.bill_cycle_day,
        weekly_bill_cycle_day=current.weekly_bill_cycle_day,
        trigger_event=current.trigger_event,
        currency=current.currency,
        quantity=current.quantity,
        price=current.price,
        uom=current.uom,
        effective_start_date=start,
        effective_end_date=end,
        grid_start_date=current.grid_start_date or current.effective_start_date,
        created_at=now,
        updated_at=now,
    )
    following.tiers = [
        SubscriptionChargeTier(
            tenant_id=t.tenant_id,
            tier=t.tier,
            starting_unit=t.starting_unit,
            ending_unit=t.ending_unit,
            price=t.price,
            price_format=t.price_format,
        )
        for t in current.tiers
    ]
    current.is_last_segment = False
    current.updated_at = now
    return following


def start_next_segment(current: SubscriptionCharge, on: date, now: datetime) -> SubscriptionCharge:
    """End ``current`` on ``on`` and return its successor from ``on`` to ``current``'s end.

    If ``current`` was billed past ``on``, rating credits that span on its own.
    """
    following = successor(current, on, current.effective_end_date, now)
    current.effective_end_date = on
    return following


def end_segment_by(charge: SubscriptionCharge, on: date, now: datetime) -> bool:
    """Make the segment end no later than ``on`` (never before its own start).

    Returns whether anything changed.
    """
    end = charge.effective_end_date
    new_end = max(charge.effective_start_date, on if end is None else min(end, on))
    if new_end == end:
        return False
    charge.effective_end_date = new_end
    charge.updated_at = now
    return True


def set_tiers(charge: SubscriptionCharge, tiers: Sequence[TierTerms]) -> None:
    charge.tiers = _tier_rows(tiers, charge.tenant_id)


def is_tiered(charge: SubscriptionCharge) -> bool:
    return _is_tiered(charge_model(charge.charge_model))


# -- rating ---------------------------------------------------------------------------------


def _weekday_index(name: str | None) -> int | None:
    if name is None:
        return None
    for index, known in enumerate(WEEKDAYS):
        if known.lower() == name.lower():
            return index
    return None


class TierLike(Protocol):
    @property
    def starting_unit(self) -> Decimal | None: ...
    @property
    def ending_unit(self) -> Decimal | None: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def price_format(self) -> str: ...


class SegmentLike(Protocol):
    """What rating needs of a segment: an ORM ``SubscriptionCharge`` or a Core row of
    the same columns (the bill run's hot path reads rows, not ORM objects)."""

    @property
    def id(self) -> int: ...
    @property
    def charge_type(self) -> str: ...
    @property
    def charge_model(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def effective_start_date(self) -> date: ...
    @property
    def effective_end_date(self) -> date | None: ...
    @property
    def grid_start_date(self) -> date | None: ...
    @property
    def bill_cycle_day(self) -> int | None: ...
    @property
    def billing_period(self) -> str | None: ...
    @property
    def specific_billing_period(self) -> int | None: ...
    @property
    def weekly_bill_cycle_day(self) -> str | None: ...
    @property
    def billing_timing(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def price(self) -> Decimal | None: ...
    @property
    def billed_through(self) -> date | None: ...


_STORED_TYPES = {e.value: e for e in ChargeType}
_STORED_MODELS = {e.value: e for e in ChargeModel}
_STORED_PERIODS = {e.value: e for e in BillingPeriod}
_STORED_TIMINGS = {e.value: e for e in BillingTiming}


def to_charge_terms(
    charge: SegmentLike,
    account_bill_cycle_day: int,
    tiers: Iterable[TierLike] | None = None,
) -> ChargeTerms:
    """The rating engine's view of one segment.

    The segment's own bill cycle day wins (fixed day, subscription start day, trigger
    day: resolved when the charge was created); otherwise the account's applies.
    ``tiers`` defaults to the ORM segment's own tiers; row callers pass them.
    """
    if tiers is None:
        tiers = charge.tiers if isinstance(charge, SubscriptionCharge) else ()
    # Stored values are canonical: an exact lookup first (the bill run's hot path), the
    # forgiving parser only for anything else.
    kind = _STORED_TYPES.get(charge.charge_type) or charge_type(charge.charge_type)
    model = _STORED_MODELS.get(charge.charge_model) or charge_model(charge.charge_model)
    period_name = charge.billing_period or "Month"
    period = _STORED_PERIODS.get(period_name) or billing_period(period_name)
    timing = _STORED_TIMINGS.get(charge.billing_timing) or billing_timing(charge.billing_timing)
    weekly = charge.weekly_bill_cycle_day
    return ChargeTerms(
        charge_id=charge.id,
        charge_type=kind,
        charge_model=model,
        currency=charge.currency,
        start_date=charge.effective_start_date,
        end_date=charge.effective_end_date,
        bill_cycle_day=charge.bill_cycle_day or account_bill_cycle_day,
        billing_period=period,
        specific_billing_period=charge.specific_billing_period,
        weekly_bill_cycle_day=_weekday_index(weekly) if weekly is not None else None,
        billing_timing=timing,
        quantity=charge.quantity,
        price=charge.price if charge.price is not None else _ZERO,
        tiers=tuple(
            Tier(
                starting_unit=t.starting_unit if t.starting_unit is not None else _ZERO,
                ending_unit=t.ending_unit,
                price=t.price,
                price_format=price_format(t.price_format),
            )
            for t in tiers
        )
        if tiers
        else (),
        billed_through=charge.billed_through,
        grid_start=charge.grid_start_date,
    )


# -- metrics ----------------------------------------------------------------------------------

_MONTHS_PER_PERIOD: dict[BillingPeriod, Decimal] = {
    BillingPeriod.Month: Decimal(1),
    BillingPeriod.Quarter: Decimal(3),
    BillingPeriod.Semi_Annual: Decimal(6),
    BillingPeriod.Annual: Decimal(12),
    BillingPeriod.Week: Decimal(12) / Decimal(52),
}


def segment_mrr(charge: SubscriptionCharge) -> Decimal:
    """Monthly recurring revenue of one segment, unrounded (0 unless recurring)."""
    if charge.charge_type != ChargeType.Recurring.value:
        return _ZERO
    # The bill cycle day does not change a period's price.
    terms = to_charge_terms(charge, charge.bill_cycle_day or 1)
    price, _ = price_and_unit_price(terms)
    if terms.billing_period == BillingPeriod.Specific_Months:
        months = Decimal(terms.specific_billing_period or 1)
    else:
        months = _MONTHS_PER_PERIOD[terms.billing_period]
    return price / months


def segment_tcv(charge: SubscriptionCharge) -> Decimal | None:
    """Total contract value of one segment, unrounded; None when it never ends.

    Zuora's rule: a recurring segment is worth its MRR times the months it is effective
    (a partial month prorated by that month's days); a one-time charge its price; usage
    nothing.
    """
    if charge.charge_type == ChargeType.Usage.value:
        return _ZERO
    end = charge.effective_end_date
    if charge.charge_type == ChargeType.OneTime.value:
        if end is not None and end <= charge.effective_start_date:
            return _ZERO
        price, _ = price_and_unit_price(to_charge_terms(charge, charge.bill_cycle_day or 1))
        return price
    if end is None:
        return None
    return segment_mrr(charge) * months_between(charge.effective_start_date, end)
