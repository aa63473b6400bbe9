"""Pure rating of usage and discounts: periods in arrears, each model's price of a
summed quantity, proration of partial periods, discount shares (hand-computed)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billcycle.rating import ChargeTerms, PriceFormat, ServicePeriod, Tier
from billcycle.rating.discounts import Discounted, discount_end, discount_minor
from billcycle.rating.types import BillingPeriod, BillingTiming, ChargeModel, ChargeType
from billcycle.rating.usage import price_usage, usage_periods

TIERS = (
    Tier(Decimal(0), Decimal(100), Decimal(1), PriceFormat.PerUnit),
    Tier(Decimal(101), None, Decimal("0.5"), PriceFormat.PerUnit),
)
FULL = ServicePeriod(date(2026, 1, 1), date(2026, 2, 1), date(2026, 1, 1), date(2026, 2, 1))


def _terms(model: ChargeModel, **kw: object) -> ChargeTerms:
    values: dict[str, object] = {
        "charge_id": 1,
        "charge_type": ChargeType.Usage,
        "charge_model": model,
        "currency": "USD",
        "start_date": date(2026, 1, 1),
        "end_date": None,
        "bill_cycle_day": 1,
        "billing_timing": BillingTiming.InArrears,
        "price": Decimal("0.10"),
        **kw,
    }
    return ChargeTerms(**values)  # type: ignore[arg-type]


def test_periods_are_billed_in_arrears_from_the_watermark() -> None:
    terms = _terms(ChargeModel.PerUnit, start_date=date(2026, 1, 17))
    assert usage_periods(terms, date(2026, 1, 31)) == []
    periods = usage_periods(terms, date(2026, 3, 1))
    assert [(p.start, p.end, p.is_full) for p in periods] == [
        (date(2026, 1, 17), date(2026, 2, 1), False),
        (date(2026, 2, 1), date(2026, 3, 1), True),
    ]
    billed = _terms(ChargeModel.PerUnit, billed_through=date(2026, 2, 1))
    assert [p.start for p in usage_periods(billed, date(2026, 3, 15))] == [date(2026, 2, 1)]
    ended = _terms(ChargeModel.PerUnit, end_date=date(2026, 2, 10))
    assert [(p.start, p.end) for p in usage_periods(ended, date(2026, 6, 1))] == [
        (date(2026, 1, 1), date(2026, 2, 1)),
        (date(2026, 2, 1), date(2026, 2, 10)),
    ]


def test_each_model_prices_a_summed_quantity() -> None:
    q = Decimal(150)
    assert price_usage(_terms(ChargeModel.PerUnit), q, FULL).amount == Decimal("15.00")
    assert price_usage(_terms(ChargeModel.Tiered, tiers=TIERS), q, FULL).amount == Decimal("125.00")
    assert price_usage(_terms(ChargeModel.Volume, tiers=TIERS), q, FULL).amount == Decimal("75.00")
    assert price_usage(
        _terms(ChargeModel.Volume, tiers=TIERS), Decimal(80), FULL
    ).amount == Decimal("80.00")
    overage = _terms(ChargeModel.Overage, price=Decimal("0.25"), included_units=Decimal(100))
    assert price_usage(overage, q, FULL).amount == Decimal("12.50")
    assert price_usage(overage, Decimal(90), FULL).amount == Decimal("0.00")
    flat = _terms(ChargeModel.FlatFee, price=Decimal(5))
    assert price_usage(flat, Decimal(0), FULL).amount == Decimal("5.00")
    with pytest.raises(ValueError, match="negative"):
        price_usage(_terms(ChargeModel.PerUnit), Decimal(-1), FULL)


def test_partial_periods_prorate_flat_fees_and_included_units_not_quantities() -> None:
    part = ServicePeriod(date(2026, 1, 17), date(2026, 2, 1), date(2026, 1, 1), date(2026, 2, 1))
    assert price_usage(_terms(ChargeModel.PerUnit), Decimal(150), part).amount == Decimal("15.00")
    flat = _terms(ChargeModel.FlatFee, price=Decimal(5))
    assert price_usage(flat, Decimal(0), part).amount == Decimal("2.42")  # 5 x 15/31
    overage = _terms(ChargeModel.Overage, price=Decimal("0.25"), included_units=Decimal(100))
    # included 100 x 15/31 = 48.387..., (60 - 48.387...) x 0.25 = 2.903... -> 2.90
    assert price_usage(overage, Decimal(60), part).amount == Decimal("2.90")


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6))
def test_tiered_usage_is_monotonic(a: int, b: int) -> None:
    terms = _terms(ChargeModel.Tiered, tiers=TIERS)
    low, high = sorted((a, b))
    assert (
        price_usage(terms, Decimal(low), FULL).amount
        <= price_usage(terms, Decimal(high), FULL).amount
    )


def test_discounts_share_and_prorate() -> None:
    rec = _terms(
        ChargeModel.DiscountPercentage,
        charge_type=ChargeType.Recurring,
        start_date=date(2026, 1, 15),
        billing_period=BillingPeriod.Month,
    )
    assert discount_end(rec, 3) == date(2026, 4, 15)
    assert discount_end(rec, None) is None
    jan = [Discounted(date(2026, 1, 15), date(2026, 2, 1), 1645)]
    args = (date(2026, 1, 15), date(2026, 2, 1), date(2026, 1, 1), date(2026, 2, 1))
    assert discount_minor(ChargeModel.DiscountPercentage, Decimal(10), "USD", *args, jan) == -165
    # April's 30.00 item, discounted for Apr 1-14 only: 10% of 30 x 14/30.
    apr = [Discounted(date(2026, 4, 1), date(2026, 5, 1), 3000)]
    window = (date(2026, 4, 1), date(2026, 4, 15), date(2026, 4, 1), date(2026, 5, 1))
    assert discount_minor(ChargeModel.DiscountPercentage, Decimal(10), "USD", *window, apr) == -140
    # Fixed: prorated like the charge, capped by what it discounts, nothing when no items.
    assert discount_minor(ChargeModel.DiscountFixed, Decimal(5), "USD", *args, jan) == -274
    small = [Discounted(date(2026, 1, 15), date(2026, 2, 1), 100)]
    assert discount_minor(ChargeModel.DiscountFixed, Decimal(5), "USD", *args, small) == -100
    assert discount_minor(ChargeModel.DiscountFixed, Decimal(5), "USD", *args, []) == 0
