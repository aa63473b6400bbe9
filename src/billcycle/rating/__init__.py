"""Pure rating: one charge's terms and a target date in, invoice items out.

Kept free of I/O and clocks so the bill run can call it in a tight loop over millions
of charges and so every rule can be checked by property tests.
"""

from billcycle.rating.engine import rate_charge
from billcycle.rating.periods import (
    MonthlySchedule,
    Schedule,
    ServicePeriod,
    WeeklySchedule,
    anchor_date,
    periods_between,
    schedule_for,
)
from billcycle.rating.pricing import (
    period_price,
    price_and_unit_price,
    tiered_amount,
    volume_amount,
    volume_tier,
)
from billcycle.rating.types import (
    BillingPeriod,
    BillingTiming,
    ChargeModel,
    ChargeTerms,
    ChargeType,
    PriceFormat,
    RatedItem,
    RatingResult,
    Tier,
)

__all__ = [
    "BillingPeriod",
    "BillingTiming",
    "ChargeModel",
    "ChargeTerms",
    "ChargeType",
    "MonthlySchedule",
    "PriceFormat",
    "RatedItem",
    "RatingResult",
    "Schedule",
    "ServicePeriod",
    "Tier",
    "WeeklySchedule",
    "anchor_date",
    "period_price",
    "periods_between",
    "price_and_unit_price",
    "rate_charge",
    "schedule_for",
    "tiered_amount",
    "volume_amount",
    "volume_tier",
]
