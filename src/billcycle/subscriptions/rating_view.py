"""A charge segment as the rating engine sees it.

Runs on the bill run's hot path (once per segment, millions of times), on ORM segments
and on Core rows of the same columns alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Protocol

from billcycle.catalog import charge_terms as terms
from billcycle.catalog.vocabulary import (
    BillingPeriod,
    BillingTiming,
    ChargeModel,
    ChargeType,
    WeekDay,
)
from billcycle.rating import ChargeTerms, Tier
from billcycle.subscriptions.models import SUBSCRIPTION, SubscriptionCharge

_ZERO = Decimal(0)
_WEEKDAY_NUMBERS = {day.value.lower(): day.number for day in WeekDay}


def _weekday_index(name: str) -> int | None:
    return _WEEKDAY_NUMBERS.get(name.lower())


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
    kind = _STORED_TYPES.get(charge.charge_type) or terms.charge_type(
        charge.charge_type, resource=SUBSCRIPTION
    )
    model = _STORED_MODELS.get(charge.charge_model) or terms.charge_model(
        charge.charge_model, resource=SUBSCRIPTION
    )
    period_name = charge.billing_period or BillingPeriod.Month
    period = _STORED_PERIODS.get(period_name) or terms.billing_period(
        period_name, resource=SUBSCRIPTION
    )
    timing = _STORED_TIMINGS.get(charge.billing_timing) or terms.billing_timing(
        charge.billing_timing, resource=SUBSCRIPTION
    )
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
                price_format=terms.price_format(t.price_format, resource=SUBSCRIPTION),
            )
            for t in tiers
        )
        if tiers
        else (),
        billed_through=charge.billed_through,
        grid_start=charge.grid_start_date,
    )
