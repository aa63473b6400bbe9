"""Plain, immutable inputs and outputs of rating.

Rating runs once per charge per bill run (millions of times), so these are frozen slotted
dataclasses: cheap to build, hashable, and safe to hand to worker processes without
defensive copies. Enum values are Zuora's exact strings so the API layer can map them
without a translation table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum


class ChargeType(StrEnum):
    Recurring = "Recurring"
    OneTime = "OneTime"
    Usage = "Usage"


class ChargeModel(StrEnum):
    FlatFee = "Flat Fee Pricing"
    PerUnit = "Per Unit Pricing"
    Tiered = "Tiered Pricing"
    Volume = "Volume Pricing"
    # Usage charges only: units past ``ChargeTerms.included_units`` at ``price`` each.
    Overage = "Overage Pricing"
    # Discounts: a percentage off, or a fixed amount off, other charges' items
    # (rated by rating/discounts.py from the items they discount).
    DiscountPercentage = "Discount-Percentage"
    DiscountFixed = "Discount-Fixed Amount"


class BillingPeriod(StrEnum):
    Month = "Month"
    Quarter = "Quarter"
    Semi_Annual = "Semi_Annual"
    Annual = "Annual"
    Week = "Week"
    Specific_Months = "Specific_Months"


class BillingTiming(StrEnum):
    InAdvance = "IN_ADVANCE"
    InArrears = "IN_ARREARS"


class PriceFormat(StrEnum):
    PerUnit = "Per Unit"
    FlatFee = "Flat Fee"


_ONE = Decimal(1)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Tier:
    """One price tier; ``ending_unit=None`` means unbounded (the last tier)."""

    starting_unit: Decimal
    ending_unit: Decimal | None
    price: Decimal
    price_format: PriceFormat


@dataclass(frozen=True, slots=True)
class ChargeTerms:
    """Everything rating needs about one subscription charge, already resolved.

    ``end_date`` and ``billed_through`` are exclusive bounds so that consecutive periods
    and consecutive bill runs chain without off-by-one adjustments.
    """

    charge_id: int
    charge_type: ChargeType
    charge_model: ChargeModel
    currency: str
    start_date: date
    end_date: date | None
    bill_cycle_day: int
    billing_period: BillingPeriod = BillingPeriod.Month
    specific_billing_period: int | None = None
    weekly_bill_cycle_day: int | None = None
    billing_timing: BillingTiming = BillingTiming.InAdvance
    quantity: Decimal = _ONE
    price: Decimal = _ZERO
    tiers: tuple[Tier, ...] = ()
    billed_through: date | None = None
    # Where the charge's period grid is phased from: the start of its FIRST segment. A
    # later segment (after a price change, say) must stay on the same grid, or a
    # quarterly charge amended mid-quarter would start new quarters. None: start_date.
    grid_start: date | None = None
    # Overage Pricing: the units each full period includes (None: none).
    included_units: Decimal | None = None

    def __post_init__(self) -> None:
        # Only structural checks that would otherwise surface as a confusing date error
        # deep inside period arithmetic; pricing is validated when the price is computed.
        if not 1 <= self.bill_cycle_day <= 31:
            raise ValueError(
                f"Charge {self.charge_id}: bill_cycle_day must be 1..31, got {self.bill_cycle_day}."
            )
        wbcd = self.weekly_bill_cycle_day
        if wbcd is not None and not 0 <= wbcd <= 6:
            raise ValueError(
                f"Charge {self.charge_id}: weekly_bill_cycle_day must be 0 (Monday)..6 "
                f"(Sunday), got {wbcd}."
            )
        if self.billing_period == BillingPeriod.Specific_Months and (
            self.specific_billing_period is None or self.specific_billing_period < 1
        ):
            raise ValueError(
                f"Charge {self.charge_id}: Specific_Months needs specific_billing_period >= 1, "
                f"got {self.specific_billing_period}."
            )


@dataclass(frozen=True, slots=True)
class RatedItem:
    """One invoice line. ``service_end`` is exclusive; credits carry a negative amount."""

    charge_id: int
    service_start: date
    service_end: date
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    is_credit: bool


@dataclass(frozen=True, slots=True)
class RatingResult:
    """Items to invoice plus the watermark the caller must persist for the next run."""

    items: tuple[RatedItem, ...]
    billed_through: date | None
