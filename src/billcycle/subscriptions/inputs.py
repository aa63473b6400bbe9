"""What a caller hands the subscriptions service, free of any wire dialect.

Dialects translate their requests into these; the service alone decides what is valid.
Ids are the integers behind the wire ids; a key that is not an id is passed as text so
the service can look it up as a number. Optional fields left at ``None`` mean "not
given": the service applies Zuora's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class ObjectKey:
    """An object named by a client: the id the dialect read from the key, if it is one,
    and the key as sent (a human number to look up, and the name errors quote)."""

    id: int | None
    text: str


@dataclass(frozen=True, slots=True)
class TierInput:
    tier: int
    price: Decimal
    starting_unit: Decimal | None = None
    ending_unit: Decimal | None = None
    price_format: str | None = None


@dataclass(frozen=True, slots=True)
class ChargeOverride:
    """Terms that replace the catalog's for one charge of a rate plan being subscribed."""

    product_rate_plan_charge: ObjectKey
    price: Decimal | None = None
    quantity: Decimal | None = None
    tiers: tuple[TierInput, ...] | None = None
    description: str | None = None
    bill_cycle_type: str | None = None
    bill_cycle_day: int | None = None
    weekly_bill_cycle_day: str | None = None
    billing_period: str | None = None
    specific_billing_period: int | None = None
    billing_timing: str | None = None
    trigger_event: str | None = None
    trigger_date: date | None = None
    end_date_condition: str | None = None
    apply_discount_to: str | None = None
    discount_level: str | None = None
    up_to_periods: int | None = None


@dataclass(frozen=True, slots=True)
class RatePlanInput:
    product_rate_plan: ObjectKey
    charge_overrides: tuple[ChargeOverride, ...] = ()


@dataclass(frozen=True, slots=True)
class NewSubscription:
    account: ObjectKey
    contract_effective_date: date
    term_type: str
    rate_plans: tuple[RatePlanInput, ...]
    service_activation_date: date | None = None
    customer_acceptance_date: date | None = None
    term_start_date: date | None = None
    initial_term: int | None = None
    initial_term_period_type: str | None = None
    renewal_term: int | None = None
    renewal_term_period_type: str | None = None
    auto_renew: bool | None = None
    renewal_setting: str | None = None
    invoice_separately: bool | None = None
    notes: str | None = None
    subscription_number: str | None = None


@dataclass(frozen=True, slots=True)
class RatePlanAddition:
    """A catalog rate plan added to an existing subscription from a date."""

    rate_plan: RatePlanInput
    contract_effective_date: date
    service_activation_date: date | None = None
    customer_acceptance_date: date | None = None


@dataclass(frozen=True, slots=True)
class ChargeUpdate:
    """New price, quantity or tiers of one subscription charge (any of its segment ids)."""

    charge: ObjectKey
    price: Decimal | None = None
    quantity: Decimal | None = None
    tiers: tuple[TierInput, ...] | None = None
    description: str | None = None
    trigger_event: str | None = None
    trigger_date: date | None = None


@dataclass(frozen=True, slots=True)
class RatePlanUpdate:
    rate_plan: ObjectKey
    contract_effective_date: date
    service_activation_date: date | None = None
    customer_acceptance_date: date | None = None
    specific_update_date: date | None = None
    charge_updates: tuple[ChargeUpdate, ...] = ()


@dataclass(frozen=True, slots=True)
class RatePlanRemoval:
    rate_plan: ObjectKey
    contract_effective_date: date


@dataclass(frozen=True, slots=True)
class SubscriptionChanges:
    """An amendment: rate plans added, updated, removed and term settings changed."""

    add: tuple[RatePlanAddition, ...] = ()
    update: tuple[RatePlanUpdate, ...] = ()
    remove: tuple[RatePlanRemoval, ...] = ()
    term_type: str | None = None
    current_term: int | None = None
    current_term_period_type: str | None = None
    auto_renew: bool | None = None
    renewal_term: int | None = None
    renewal_term_period_type: str | None = None
    renewal_setting: str | None = None
    invoice_separately: bool | None = None
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class Cancellation:
    policy: str
    effective_date: date | None = None


@dataclass(frozen=True, slots=True)
class Resumption:
    policy: str | None
    specific_date: date | None = None
    periods: int | None = None
    periods_type: str | None = None
    extends_term: bool = False


@dataclass(frozen=True, slots=True)
class Suspension:
    policy: str
    specific_date: date | None = None
    periods: int | None = None
    periods_type: str | None = None
    # Zuora lets a suspend request schedule the resumption in the same call.
    resume: Resumption | None = None
