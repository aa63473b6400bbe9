"""Worked examples of Zuora's default rating rules, one behaviour per test."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from billcycle.rating import (
    BillingPeriod,
    BillingTiming,
    ChargeModel,
    ChargeTerms,
    ChargeType,
    PriceFormat,
    RatingResult,
    Tier,
    period_price,
    periods_between,
    rate_charge,
)

D = Decimal


def terms(**overrides: Any) -> ChargeTerms:
    base: dict[str, Any] = {
        "charge_id": 1,
        "charge_type": ChargeType.Recurring,
        "charge_model": ChargeModel.FlatFee,
        "currency": "USD",
        "start_date": date(2026, 1, 1),
        "end_date": None,
        "bill_cycle_day": 1,
        "price": D("30"),
    }
    base.update(overrides)
    return ChargeTerms(**base)


def spans(result: RatingResult) -> list[tuple[date, date, Decimal]]:
    return [(i.service_start, i.service_end, i.amount) for i in result.items]


def amounts(result: RatingResult) -> list[str]:
    return [str(i.amount) for i in result.items]


# --- the canonical example ---------------------------------------------------------


def test_canonical_prorated_first_month_then_full_months() -> None:
    result = rate_charge(terms(start_date=date(2026, 1, 15)), date(2026, 3, 1))
    assert spans(result) == [
        (date(2026, 1, 15), date(2026, 2, 1), D("16.45")),
        (date(2026, 2, 1), date(2026, 3, 1), D("30.00")),
        (date(2026, 3, 1), date(2026, 4, 1), D("30.00")),
    ]
    assert sum(i.amount for i in result.items) == D("76.45")
    assert result.billed_through == date(2026, 4, 1)
    assert all(not i.is_credit and i.charge_id == 1 for i in result.items)


def test_resuming_from_watermark_bills_only_new_periods() -> None:
    first = rate_charge(terms(start_date=date(2026, 1, 15)), date(2026, 1, 20))
    assert amounts(first) == ["16.45"]
    assert first.billed_through == date(2026, 2, 1)
    second = rate_charge(
        terms(start_date=date(2026, 1, 15), billed_through=first.billed_through),
        date(2026, 3, 1),
    )
    assert amounts(second) == ["30.00", "30.00"]
    again = rate_charge(
        terms(start_date=date(2026, 1, 15), billed_through=second.billed_through),
        date(2026, 3, 31),
    )
    assert again.items == ()
    assert again.billed_through == date(2026, 4, 1)


def test_target_before_start_bills_nothing() -> None:
    result = rate_charge(terms(start_date=date(2026, 1, 15)), date(2026, 1, 14))
    assert result == RatingResult((), None)


# --- bill cycle day alignment --------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "feb_end"),
    [(2026, date(2026, 2, 28)), (2028, date(2028, 2, 29))],
    ids=["non-leap", "leap"],
)
def test_bcd_31_clamps_in_february_without_drift(year: int, feb_end: date) -> None:
    result = rate_charge(terms(start_date=date(year, 1, 31), bill_cycle_day=31), date(year, 4, 30))
    assert [(i.service_start, i.service_end) for i in result.items] == [
        (date(year, 1, 31), feb_end),
        (feb_end, date(year, 3, 31)),
        (date(year, 3, 31), date(year, 4, 30)),
        (date(year, 4, 30), date(year, 5, 31)),
    ]
    assert amounts(result) == ["30.00"] * 4


def test_bcd_31_partial_first_period_prorates_against_previous_month_end() -> None:
    result = rate_charge(terms(start_date=date(2026, 2, 15), bill_cycle_day=31), date(2026, 2, 15))
    # [Feb 15, Feb 28) inside [Jan 31, Feb 28): 13 / 28 days of 30.00.
    assert spans(result) == [(date(2026, 2, 15), date(2026, 2, 28), D("13.93"))]


def test_bcd_later_in_month_than_start() -> None:
    result = rate_charge(terms(start_date=date(2026, 1, 10), bill_cycle_day=20), date(2026, 1, 20))
    # [Jan 10, Jan 20) inside [Dec 20, Jan 20) = 10 / 31 days.
    assert spans(result) == [
        (date(2026, 1, 10), date(2026, 1, 20), D("9.68")),
        (date(2026, 1, 20), date(2026, 2, 20), D("30.00")),
    ]


def test_start_on_bcd_has_no_partial_period() -> None:
    result = rate_charge(terms(start_date=date(2026, 1, 20), bill_cycle_day=20), date(2026, 1, 20))
    assert spans(result) == [(date(2026, 1, 20), date(2026, 2, 20), D("30.00"))]


# --- billing periods -----------------------------------------------------------------


def test_quarterly_partial_first_period_then_quarters_from_anchor() -> None:
    result = rate_charge(
        terms(start_date=date(2026, 1, 15), billing_period=BillingPeriod.Quarter, price=D(300)),
        date(2026, 5, 1),
    )
    # [Jan 15, Feb 1) inside [Nov 1, Feb 1) = 17 / 92 days.
    assert spans(result) == [
        (date(2026, 1, 15), date(2026, 2, 1), D("55.43")),
        (date(2026, 2, 1), date(2026, 5, 1), D("300.00")),
        (date(2026, 5, 1), date(2026, 8, 1), D("300.00")),
    ]


def test_annual_partial_first_period() -> None:
    result = rate_charge(
        terms(start_date=date(2026, 1, 15), billing_period=BillingPeriod.Annual, price=D(1200)),
        date(2026, 2, 1),
    )
    # [Jan 15, Feb 1) inside [2025-02-01, 2026-02-01) = 17 / 365 days.
    assert spans(result) == [
        (date(2026, 1, 15), date(2026, 2, 1), D("55.89")),
        (date(2026, 2, 1), date(2027, 2, 1), D("1200.00")),
    ]


def test_annual_leap_year_full_period_is_not_prorated() -> None:
    result = rate_charge(
        terms(
            start_date=date(2028, 2, 29),
            bill_cycle_day=29,
            billing_period=BillingPeriod.Annual,
            price=D(1200),
        ),
        date(2029, 3, 1),
    )
    assert spans(result) == [
        (date(2028, 2, 29), date(2029, 2, 28), D("1200.00")),
        (date(2029, 2, 28), date(2030, 2, 28), D("1200.00")),
    ]


def test_semi_annual() -> None:
    result = rate_charge(
        terms(
            start_date=date(2026, 2, 10),
            bill_cycle_day=10,
            billing_period=BillingPeriod.Semi_Annual,
            price=D(600),
        ),
        date(2026, 8, 10),
    )
    assert spans(result) == [
        (date(2026, 2, 10), date(2026, 8, 10), D("600.00")),
        (date(2026, 8, 10), date(2027, 2, 10), D("600.00")),
    ]


def test_specific_months_two() -> None:
    result = rate_charge(
        terms(
            start_date=date(2026, 1, 5),
            billing_period=BillingPeriod.Specific_Months,
            specific_billing_period=2,
            price=D(100),
        ),
        date(2026, 4, 1),
    )
    # [Jan 5, Feb 1) inside [Dec 1, Feb 1) = 27 / 62 days.
    assert spans(result) == [
        (date(2026, 1, 5), date(2026, 2, 1), D("43.55")),
        (date(2026, 2, 1), date(2026, 4, 1), D("100.00")),
        (date(2026, 4, 1), date(2026, 6, 1), D("100.00")),
    ]


def test_specific_months_requires_a_length() -> None:
    with pytest.raises(ValueError, match="specific_billing_period"):
        terms(billing_period=BillingPeriod.Specific_Months)


def test_weekly_aligned_to_weekly_bcd() -> None:
    # 2026-01-07 is a Wednesday; weekly BCD 0 = Monday 2026-01-12.
    result = rate_charge(
        terms(
            start_date=date(2026, 1, 7),
            billing_period=BillingPeriod.Week,
            weekly_bill_cycle_day=0,
            price=D(70),
        ),
        date(2026, 1, 19),
    )
    assert spans(result) == [
        (date(2026, 1, 7), date(2026, 1, 12), D("50.00")),
        (date(2026, 1, 12), date(2026, 1, 19), D("70.00")),
        (date(2026, 1, 19), date(2026, 1, 26), D("70.00")),
    ]


def test_weekly_without_weekly_bcd_anchors_on_start_weekday() -> None:
    result = rate_charge(
        terms(start_date=date(2026, 1, 7), billing_period=BillingPeriod.Week, price=D(70)),
        date(2026, 1, 14),
    )
    assert spans(result) == [
        (date(2026, 1, 7), date(2026, 1, 14), D("70.00")),
        (date(2026, 1, 14), date(2026, 1, 21), D("70.00")),
    ]


def test_periods_between_cuts_on_aligned_boundaries() -> None:
    slices = list(periods_between(terms(), date(2026, 1, 15), date(2026, 3, 10)))
    assert [(p.start, p.end, p.period_start, p.period_end) for p in slices] == [
        (date(2026, 1, 15), date(2026, 2, 1), date(2026, 1, 1), date(2026, 2, 1)),
        (date(2026, 2, 1), date(2026, 3, 1), date(2026, 2, 1), date(2026, 3, 1)),
        (date(2026, 3, 1), date(2026, 3, 10), date(2026, 3, 1), date(2026, 4, 1)),
    ]
    assert [p.is_full for p in slices] == [False, True, False]


# --- billing timing ------------------------------------------------------------------


def test_in_advance_bills_the_period_starting_on_the_target_date() -> None:
    assert amounts(rate_charge(terms(), date(2026, 1, 1))) == ["30.00"]
    assert amounts(rate_charge(terms(), date(2026, 1, 31))) == ["30.00"]
    assert amounts(rate_charge(terms(), date(2026, 2, 1))) == ["30.00", "30.00"]


def test_in_arrears_waits_until_the_period_is_over() -> None:
    arrears = terms(billing_timing=BillingTiming.InArrears)
    assert rate_charge(arrears, date(2026, 1, 31)) == RatingResult((), None)
    result = rate_charge(arrears, date(2026, 2, 1))
    assert spans(result) == [(date(2026, 1, 1), date(2026, 2, 1), D("30.00"))]
    assert result.billed_through == date(2026, 2, 1)


def test_in_arrears_partial_first_period() -> None:
    arrears = terms(start_date=date(2026, 1, 15), billing_timing=BillingTiming.InArrears)
    assert rate_charge(arrears, date(2026, 1, 31)).items == ()
    assert amounts(rate_charge(arrears, date(2026, 2, 1))) == ["16.45"]


def test_in_arrears_partial_last_period_billed_once_end_date_passes() -> None:
    arrears = terms(billing_timing=BillingTiming.InArrears, end_date=date(2026, 3, 16))
    assert amounts(rate_charge(arrears, date(2026, 3, 15))) == ["30.00", "30.00"]
    result = rate_charge(arrears, date(2026, 3, 16))
    # [Mar 1, Mar 16) inside [Mar 1, Apr 1) = 15 / 31 days.
    assert spans(result)[-1] == (date(2026, 3, 1), date(2026, 3, 16), D("14.52"))
    assert result.billed_through == date(2026, 3, 16)
    later = rate_charge(replace(arrears, billed_through=result.billed_through), date(2027, 1, 1))
    assert later == RatingResult((), date(2026, 3, 16))


# --- charge models -------------------------------------------------------------------


def test_flat_fee_ignores_quantity_but_reports_it() -> None:
    result = rate_charge(terms(quantity=D(5)), date(2026, 1, 1))
    (item,) = result.items
    assert (item.quantity, item.unit_price, item.amount) == (D(5), D(30), D("30.00"))


def test_per_unit_multiplies_price_by_quantity() -> None:
    per_unit = terms(charge_model=ChargeModel.PerUnit, price=D("2.50"), quantity=D(5))
    assert period_price(per_unit) == D("12.50")
    (item,) = rate_charge(per_unit, date(2026, 1, 1)).items
    assert (item.quantity, item.unit_price, item.amount) == (D(5), D("2.50"), D("12.50"))


def test_per_unit_prorates_the_extended_price() -> None:
    per_unit = terms(
        charge_model=ChargeModel.PerUnit,
        price=D("2.50"),
        quantity=D(5),
        start_date=date(2026, 1, 15),
    )
    # 12.50 x 17 / 31 = 6.854...
    assert amounts(rate_charge(per_unit, date(2026, 1, 15))) == ["6.85"]


GRADUATED = (
    Tier(D(0), D(10), D("1.00"), PriceFormat.PerUnit),
    Tier(D(11), D(20), D("0.80"), PriceFormat.PerUnit),
    Tier(D(21), None, D("0.50"), PriceFormat.PerUnit),
)


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        (D(0), D(0)),
        (D(5), D("5.00")),
        (D(10), D("10.00")),
        (D(11), D("10.80")),
        (D("10.5"), D("10.40")),
        (D(20), D("18.00")),
        (D(25), D("20.50")),
    ],
)
def test_tiered_splits_quantity_across_three_tiers(quantity: Decimal, expected: Decimal) -> None:
    tiered = terms(charge_model=ChargeModel.Tiered, tiers=GRADUATED, quantity=quantity)
    assert period_price(tiered) == expected
    (item,) = rate_charge(tiered, date(2026, 1, 1)).items
    assert item.amount == expected
    # Unit price is the effective (unrounded) average price per unit.
    assert item.unit_price == (expected / quantity if quantity else 0)


def test_tiered_first_tier_starting_at_one_equals_starting_at_zero() -> None:
    from_one = (Tier(D(1), D(10), D("1.00"), PriceFormat.PerUnit), *GRADUATED[1:])
    tiered = terms(charge_model=ChargeModel.Tiered, tiers=from_one, quantity=D(25))
    assert period_price(tiered) == D("20.50")


def test_tiered_flat_fee_tier_charged_once_when_reached() -> None:
    tiers = (
        Tier(D(1), D(10), D("5.00"), PriceFormat.FlatFee),
        Tier(D(11), D(20), D("1.00"), PriceFormat.PerUnit),
        Tier(D(21), None, D("12.00"), PriceFormat.FlatFee),
    )
    tiered = terms(charge_model=ChargeModel.Tiered, tiers=tiers)
    assert period_price(replace(tiered, quantity=D(3))) == D("5.00")
    assert period_price(replace(tiered, quantity=D(15))) == D("10.00")
    assert period_price(replace(tiered, quantity=D(21))) == D("27.00")


def test_tiered_rejects_negative_quantity() -> None:
    tiered = terms(charge_model=ChargeModel.Tiered, tiers=GRADUATED, quantity=D(-1))
    with pytest.raises(ValueError, match=r"Charge 1: .*negative"):
        rate_charge(tiered, date(2026, 1, 1))


VOLUME = (
    Tier(D(1), D(10), D("2.00"), PriceFormat.PerUnit),
    Tier(D(11), D(50), D("15.00"), PriceFormat.FlatFee),
    Tier(D(51), D(100), D("0.25"), PriceFormat.PerUnit),
)


@pytest.mark.parametrize(
    ("quantity", "expected_amount", "expected_unit"),
    [
        (D(5), D("10.00"), D("2.00")),
        (D(10), D("20.00"), D("2.00")),
        (D(12), D("15.00"), D("1.25")),
        (D(60), D("15.00"), D("0.25")),
    ],
)
def test_volume_prices_all_units_at_one_tier(
    quantity: Decimal, expected_amount: Decimal, expected_unit: Decimal
) -> None:
    volume = terms(charge_model=ChargeModel.Volume, tiers=VOLUME, quantity=quantity)
    (item,) = rate_charge(volume, date(2026, 1, 1)).items
    assert (item.amount, item.unit_price) == (expected_amount, expected_unit)


@pytest.mark.parametrize("quantity", [D(0), D(101)])
def test_volume_quantity_outside_every_tier_is_rejected(quantity: Decimal) -> None:
    volume = terms(charge_model=ChargeModel.Volume, tiers=VOLUME, quantity=quantity)
    with pytest.raises(ValueError, match=f"Charge 1: .*quantity {quantity} falls outside"):
        rate_charge(volume, date(2026, 1, 1))


def test_volume_without_tiers_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one tier"):
        rate_charge(terms(charge_model=ChargeModel.Volume), date(2026, 1, 1))


def test_zero_price_still_yields_an_item() -> None:
    result = rate_charge(terms(price=D(0), start_date=date(2026, 1, 15)), date(2026, 2, 1))
    assert amounts(result) == ["0.00", "0.00"]


# --- one-time and usage --------------------------------------------------------------


def test_one_time_billed_once_on_start_date() -> None:
    one_time = terms(
        charge_type=ChargeType.OneTime,
        charge_model=ChargeModel.PerUnit,
        start_date=date(2026, 1, 15),
        price=D("9.99"),
        quantity=D(3),
        billing_timing=BillingTiming.InArrears,  # ignored: one-time is billed on its date
    )
    assert rate_charge(one_time, date(2026, 1, 14)) == RatingResult((), None)
    result = rate_charge(one_time, date(2026, 1, 15))
    assert spans(result) == [(date(2026, 1, 15), date(2026, 1, 16), D("29.97"))]
    assert result.billed_through == date(2026, 1, 16)
    again = rate_charge(replace(one_time, billed_through=result.billed_through), date(2027, 1, 1))
    assert again == RatingResult((), date(2026, 1, 16))


def test_one_time_is_never_prorated_and_not_credited_on_cancellation() -> None:
    one_time = terms(
        charge_type=ChargeType.OneTime,
        start_date=date(2026, 1, 15),
        end_date=date(2026, 1, 20),
        billed_through=date(2026, 1, 16),
    )
    assert rate_charge(one_time, date(2026, 2, 1)).items == ()
    fresh = replace(one_time, billed_through=None)
    assert amounts(rate_charge(fresh, date(2026, 1, 15))) == ["30.00"]


def test_one_time_tiered() -> None:
    one_time = terms(
        charge_type=ChargeType.OneTime,
        charge_model=ChargeModel.Tiered,
        tiers=GRADUATED,
        quantity=D(25),
    )
    assert amounts(rate_charge(one_time, date(2026, 1, 1))) == ["20.50"]


def test_usage_yields_nothing_and_keeps_watermark() -> None:
    usage = terms(charge_type=ChargeType.Usage, billed_through=date(2026, 2, 1))
    assert rate_charge(usage, date(2027, 1, 1)) == RatingResult((), date(2026, 2, 1))


# --- end dates and cancellation ------------------------------------------------------


def test_cancellation_credits_the_unused_part_of_a_billed_period() -> None:
    cancelled = terms(end_date=date(2026, 3, 16), billed_through=date(2026, 4, 1))
    result = rate_charge(cancelled, date(2026, 3, 16))
    (credit,) = result.items
    assert (credit.service_start, credit.service_end) == (date(2026, 3, 16), date(2026, 4, 1))
    assert credit.amount == D("-15.48")  # -(16 / 31 x 30)
    assert credit.is_credit
    assert result.billed_through == date(2026, 3, 16)
    # Once credited, nothing more happens.
    after = rate_charge(replace(cancelled, billed_through=result.billed_through), date(2027, 1, 1))
    assert after == RatingResult((), date(2026, 3, 16))


def test_cancellation_credit_spans_several_billed_periods() -> None:
    cancelled = terms(end_date=date(2026, 3, 16), billed_through=date(2026, 5, 1))
    assert spans(rate_charge(cancelled, date(2026, 3, 16))) == [
        (date(2026, 3, 16), date(2026, 4, 1), D("-15.48")),
        (date(2026, 4, 1), date(2026, 5, 1), D("-30.00")),
    ]


def test_cancellation_credit_inside_partial_first_period_uses_aligned_period() -> None:
    cancelled = terms(
        start_date=date(2026, 1, 15),
        end_date=date(2026, 1, 20),
        billed_through=date(2026, 2, 1),
    )
    # [Jan 20, Feb 1) inside [Jan 1, Feb 1): 12 / 31 x 30 = 11.61.
    assert spans(rate_charge(cancelled, date(2026, 1, 20))) == [
        (date(2026, 1, 20), date(2026, 2, 1), D("-11.61")),
    ]


def test_cancellation_before_start_credits_everything_billed() -> None:
    cancelled = terms(
        start_date=date(2026, 1, 15),
        end_date=date(2026, 1, 1),
        billed_through=date(2026, 2, 1),
    )
    result = rate_charge(cancelled, date(2026, 1, 1))
    assert spans(result) == [(date(2026, 1, 15), date(2026, 2, 1), D("-16.45"))]
    assert result.billed_through == date(2026, 1, 15)


def test_zero_credit_is_not_negative_zero() -> None:
    cancelled = terms(price=D(0), end_date=date(2026, 3, 16), billed_through=date(2026, 4, 1))
    (credit,) = rate_charge(cancelled, date(2026, 3, 16)).items
    assert str(credit.amount) == "0.00"
    assert credit.is_credit


def test_end_date_inside_unbilled_period_bills_partial_last_period() -> None:
    ending = terms(end_date=date(2026, 3, 16), billed_through=date(2026, 3, 1))
    result = rate_charge(ending, date(2026, 6, 1))
    assert spans(result) == [(date(2026, 3, 1), date(2026, 3, 16), D("14.52"))]
    assert result.billed_through == date(2026, 3, 16)


def test_end_date_on_or_before_start_bills_nothing() -> None:
    assert rate_charge(terms(end_date=date(2026, 1, 1)), date(2027, 1, 1)).items == ()
    assert rate_charge(terms(end_date=date(2025, 12, 1)), date(2027, 1, 1)).items == ()


def test_never_bills_past_end_date() -> None:
    result = rate_charge(terms(end_date=date(2026, 3, 1)), date(2030, 1, 1))
    assert [i.service_end for i in result.items] == [date(2026, 2, 1), date(2026, 3, 1)]
    assert result.billed_through == date(2026, 3, 1)


# --- currencies ----------------------------------------------------------------------


def test_jpy_rounds_to_whole_yen() -> None:
    jpy = terms(currency="JPY", price=D(1000), start_date=date(2026, 1, 15))
    assert amounts(rate_charge(jpy, date(2026, 2, 1))) == ["548", "1000"]  # 1000 x 17/31


def test_kwd_rounds_to_three_decimals() -> None:
    kwd = terms(currency="KWD", price=D(10), start_date=date(2026, 1, 15))
    assert amounts(rate_charge(kwd, date(2026, 2, 1))) == ["5.484", "10.000"]  # 10 x 17/31


def test_proration_rounds_half_up() -> None:
    # [Apr 28, May 1) inside [Apr 1, May 1): 0.05 x 3 / 30 = 0.005 exactly -> 0.01.
    half = terms(price=D("0.05"), start_date=date(2026, 4, 28))
    assert amounts(rate_charge(half, date(2026, 4, 28))) == ["0.01"]


# --- validation ----------------------------------------------------------------------


@pytest.mark.parametrize("bcd", [0, 32])
def test_bill_cycle_day_out_of_range_is_rejected(bcd: int) -> None:
    with pytest.raises(ValueError, match="bill_cycle_day"):
        terms(bill_cycle_day=bcd)


def test_weekly_bill_cycle_day_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="weekly_bill_cycle_day"):
        terms(billing_period=BillingPeriod.Week, weekly_bill_cycle_day=7)


def test_later_segment_stays_on_the_first_segments_grid() -> None:
    # A quarterly charge from Jan 1 whose price changes on Feb 15: the new segment bills
    # the rest of the Jan-Mar quarter prorated, then whole quarters from Apr 1, not new
    # quarters phased from Feb 15.
    segment = terms(
        billing_period=BillingPeriod.Quarter,
        start_date=date(2026, 2, 15),
        grid_start=date(2026, 1, 1),
        price=D(90),
    )
    items = rate_charge(segment, date(2026, 4, 1)).items
    assert [(i.service_start, i.service_end) for i in items] == [
        (date(2026, 2, 15), date(2026, 4, 1)),
        (date(2026, 4, 1), date(2026, 7, 1)),
    ]
    assert items[0].amount == D("45.00")  # 45 of the quarter's 90 days
    assert items[1].amount == D("90.00")
