"""What callers hand the catalog service: plain dataclasses in the domain's vocabulary.

Dialects translate their wire spellings (the object API's ``Semi-Annual``, ``In Advance``)
into the values of :mod:`billcycle.catalog.vocabulary` before calling the service, so
the rules live in one place. Words stay ``str`` here: an unknown one reaches the service,
which refuses it with the list of allowed values.

Updates use :data:`UNSET` for "not given", so that ``None`` can mean "clear this field".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from billcycle.unset import UNSET, Unset


@dataclass(frozen=True, slots=True)
class NewProduct:
    name: str
    effective_start_date: date
    effective_end_date: date
    sku: str | None = None  # generated (SKU-00000001) when not given, as Zuora does
    description: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class ProductChanges:
    name: str | Unset | None = UNSET
    sku: str | Unset | None = UNSET
    description: str | Unset | None = UNSET
    category: str | Unset | None = UNSET
    effective_start_date: date | Unset | None = UNSET
    effective_end_date: date | Unset | None = UNSET


@dataclass(frozen=True, slots=True)
class NewRatePlan:
    product_id: int
    name: str
    description: str | None = None
    effective_start_date: date | None = None
    effective_end_date: date | None = None


@dataclass(frozen=True, slots=True)
class RatePlanChanges:
    product_id: int | Unset = UNSET  # may be repeated, not changed
    name: str | Unset | None = UNSET
    description: str | Unset | None = UNSET
    effective_start_date: date | Unset | None = UNSET
    effective_end_date: date | Unset | None = UNSET


@dataclass(frozen=True, slots=True)
class TierInput:
    """One price point. Flat Fee and Per Unit charges have one per currency, without units."""

    currency: str | None
    price: Decimal | None
    tier: int | None = None
    starting_unit: Decimal | None = None
    ending_unit: Decimal | None = None
    price_format: str | None = None


@dataclass(frozen=True, slots=True)
class NewCharge:
    """A charge's complete terms; ``None`` means "Zuora's default" where one exists."""

    product_rate_plan_id: int
    name: str
    charge_type: str
    charge_model: str
    tiers: Sequence[TierInput]
    billing_period: str | None = None
    specific_billing_period: int | None = None
    billing_timing: str | None = None
    bill_cycle_type: str | None = None
    bill_cycle_day: int | None = None
    weekly_bill_cycle_day: str | None = None
    trigger_event: str | None = None
    default_quantity: Decimal | None = None
    uom: str | None = None
    included_units: Decimal | None = None
    discount_level: str | None = None
    apply_discount_to: str | None = None
    up_to_periods: int | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ChargeChanges:
    """A partial update. Tiers given for a currency replace that currency's tiers."""

    product_rate_plan_id: int | Unset = UNSET  # may be repeated, not changed
    name: str | Unset | None = UNSET
    charge_type: str | Unset | None = UNSET
    charge_model: str | Unset | None = UNSET
    tiers: Sequence[TierInput] | Unset = UNSET
    billing_period: str | Unset | None = UNSET
    specific_billing_period: int | Unset | None = UNSET
    billing_timing: str | Unset | None = UNSET
    bill_cycle_type: str | Unset | None = UNSET
    bill_cycle_day: int | Unset | None = UNSET
    weekly_bill_cycle_day: str | Unset | None = UNSET
    trigger_event: str | Unset | None = UNSET
    default_quantity: Decimal | Unset | None = UNSET
    uom: str | Unset | None = UNSET
    included_units: Decimal | Unset | None = UNSET
    discount_level: str | Unset | None = UNSET
    apply_discount_to: str | Unset | None = UNSET
    up_to_periods: int | Unset | None = UNSET
    description: str | Unset | None = UNSET
