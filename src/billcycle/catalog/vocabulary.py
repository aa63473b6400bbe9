"""The one home of a charge's words: every set the catalog, subscriptions and rating use.

Values are Zuora's exact strings, stored as is (no translation table between the database
and the dialects). The five sets rating prices by (:class:`ChargeType`,
:class:`ChargeModel`, :class:`BillingPeriod`, :class:`BillingTiming`,
:class:`PriceFormat`) are defined in :mod:`billcycle.rating.types`, because rating is
pure and imports nothing of the domain; they are re-exported here so that a caller
finds every charge word in one module.

Some words are valid on a subscription charge only (``TermStartDay``, ``SpecificDate``):
the catalog accepts the ``CATALOG_*`` subsets.
"""

from __future__ import annotations

from enum import StrEnum

from billcycle.rating.types import (
    BillingPeriod,
    BillingTiming,
    ChargeModel,
    ChargeType,
    PriceFormat,
)

__all__ = [
    "CATALOG_BILL_CYCLE_TYPES",
    "CATALOG_TRIGGER_EVENTS",
    "DISCOUNT_MODELS",
    "DISCOUNT_TARGET_TYPES",
    "TIERED_MODELS",
    "BillCycleType",
    "BillingPeriod",
    "BillingPeriodAlignment",
    "BillingTiming",
    "ChargeModel",
    "ChargeType",
    "DiscountLevel",
    "DiscountTarget",
    "EndDateCondition",
    "ListPriceBase",
    "PriceFormat",
    "ProductCategory",
    "RatePlanStatus",
    "TriggerEvent",
    "WeekDay",
    "discount_targets",
]


class BillCycleType(StrEnum):
    """Where a charge's bill cycle day comes from."""

    DefaultFromCustomer = "DefaultFromCustomer"
    SpecificDayofMonth = "SpecificDayofMonth"
    SubscriptionStartDay = "SubscriptionStartDay"
    ChargeTriggerDay = "ChargeTriggerDay"
    SpecificDayofWeek = "SpecificDayofWeek"
    TermStartDay = "TermStartDay"  # subscription charges only


CATALOG_BILL_CYCLE_TYPES = tuple(t for t in BillCycleType if t is not BillCycleType.TermStartDay)


class TriggerEvent(StrEnum):
    """Which subscription date starts a charge."""

    ContractEffective = "ContractEffective"
    ServiceActivation = "ServiceActivation"
    CustomerAcceptance = "CustomerAcceptance"
    SpecificDate = "SpecificDate"  # subscription charges only, with a trigger date


CATALOG_TRIGGER_EVENTS = tuple(e for e in TriggerEvent if e is not TriggerEvent.SpecificDate)


class WeekDay(StrEnum):
    """Stored by name, as Zuora spells it; rating numbers them Monday=0 .. Sunday=6
    (the definition order, see :attr:`number`)."""

    Monday = "Monday"
    Tuesday = "Tuesday"
    Wednesday = "Wednesday"
    Thursday = "Thursday"
    Friday = "Friday"
    Saturday = "Saturday"
    Sunday = "Sunday"

    @property
    def number(self) -> int:
        """Monday=0 .. Sunday=6, as :meth:`datetime.date.weekday` counts."""
        return _WEEKDAY_NUMBER[self]

    @classmethod
    def of(cls, weekday: int) -> WeekDay:
        """The day named by :meth:`datetime.date.weekday` (Monday=0)."""
        return _WEEKDAYS[weekday]


_WEEKDAYS = tuple(WeekDay)
_WEEKDAY_NUMBER = {day: number for number, day in enumerate(_WEEKDAYS)}


class DiscountLevel(StrEnum):
    """Which charges a discount charge discounts: its rate plan's, its subscription's or
    its account's (Zuora's words)."""

    RatePlan = "rateplan"
    Subscription = "subscription"
    Account = "account"


class DiscountTarget(StrEnum):
    """The charge types a discount applies to; Zuora's ``ApplyDiscountTo`` concatenates
    them (``ONETIMERECURRING``, ``RECURRINGUSAGE``, ...)."""

    ONETIME = "ONETIME"
    RECURRING = "RECURRING"
    USAGE = "USAGE"


DISCOUNT_TARGET_TYPES = {
    DiscountTarget.ONETIME: "OneTime",
    DiscountTarget.RECURRING: "Recurring",
    DiscountTarget.USAGE: "Usage",
}
DISCOUNT_MODELS = frozenset({ChargeModel.DiscountPercentage, ChargeModel.DiscountFixed})


def discount_targets(text: str) -> frozenset[DiscountTarget] | None:
    """The charge types in an ``ApplyDiscountTo`` value, or None if it is not one."""
    rest = text.strip().upper()
    found: set[DiscountTarget] = set()
    for target in DiscountTarget:
        if rest.startswith(target.value):
            found.add(target)
            rest = rest[len(target.value) :]
    return frozenset(found) if found and not rest else None


class ProductCategory(StrEnum):
    BaseProducts = "Base Products"
    AddOnServices = "Add On Services"
    MiscellaneousProducts = "Miscellaneous Products"


class EndDateCondition(StrEnum):
    """When a subscription charge ends: billcycle supports the subscription's end (and
    shows ``One_Time`` for a one-time charge, as Zuora does)."""

    SubscriptionEnd = "Subscription_End"
    OneTime = "One_Time"


class RatePlanStatus(StrEnum):
    """A catalog rate plan's status on a given day, from its effective dates."""

    NotStarted = "NotStarted"
    Active = "Active"
    Expired = "Expired"


class ListPriceBase(StrEnum):
    PerBillingPeriod = "Per_Billing_Period"


class BillingPeriodAlignment(StrEnum):
    AlignToCharge = "AlignToCharge"


TIERED_MODELS = frozenset({ChargeModel.Tiered, ChargeModel.Volume})
