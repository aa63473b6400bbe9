"""Properties every rating must satisfy, whatever the terms and however bill runs fall.

The split-invariance properties are what let the bill run be re-run, resumed or run
more often without ever double-billing or changing amounts.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billcycle.money import minor_unit_exponent, round_money
from billcycle.rating import (
    BillingPeriod,
    BillingTiming,
    ChargeModel,
    ChargeTerms,
    ChargeType,
    PriceFormat,
    RatedItem,
    RatingResult,
    Tier,
    period_price,
    rate_charge,
    schedule_for,
)

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

CURRENCIES = ("USD", "JPY", "KWD")
# Unbounded last tier and a first tier from 0: every quantity >= 0 has a volume tier.
TIERS = (
    Tier(Decimal(0), Decimal(10), Decimal("1.25"), PriceFormat.PerUnit),
    Tier(Decimal(11), Decimal(20), Decimal("9.99"), PriceFormat.FlatFee),
    Tier(Decimal(21), None, Decimal("0.333"), PriceFormat.PerUnit),
)

prices = st.decimals(min_value=0, max_value=100_000, places=3, allow_nan=False)
quantities = st.decimals(min_value=0, max_value=50, places=1, allow_nan=False)
start_dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2032, 12, 31))
# Month-end cycle days are where clamping bugs live, so draw them more often.
bill_cycle_days = st.integers(1, 31) | st.integers(28, 31)


@st.composite
def recurring_terms(draw: st.DrawFn, *, with_history: bool = True) -> ChargeTerms:
    start = draw(start_dates)
    period = draw(st.sampled_from(BillingPeriod))
    end: date | None = None
    if draw(st.booleans()):
        end = start + timedelta(days=draw(st.integers(-30, 900)))
    billed_through: date | None = None
    if with_history and draw(st.booleans()):
        billed_through = start + timedelta(days=draw(st.integers(-30, 900)))
    return ChargeTerms(
        charge_id=draw(st.integers(1, 10**9)),
        charge_type=ChargeType.Recurring,
        charge_model=draw(st.sampled_from(ChargeModel)),
        currency=draw(st.sampled_from(CURRENCIES)),
        start_date=start,
        end_date=end,
        bill_cycle_day=draw(bill_cycle_days),
        billing_period=period,
        specific_billing_period=(
            draw(st.integers(1, 14)) if period == BillingPeriod.Specific_Months else None
        ),
        weekly_bill_cycle_day=draw(st.none() | st.integers(0, 6)),
        billing_timing=draw(st.sampled_from(BillingTiming)),
        quantity=draw(quantities),
        price=draw(prices),
        tiers=TIERS,
        billed_through=billed_through,
    )


def offsets(terms: ChargeTerms, days: int) -> date:
    return terms.start_date + timedelta(days=days)


def target_offsets() -> st.SearchStrategy[int]:
    return st.integers(-60, 800)


def resume_point(terms: ChargeTerms) -> date:
    bt = terms.billed_through
    return terms.start_date if bt is None or bt < terms.start_date else bt


def bill_in_steps(terms: ChargeTerms, targets: list[date]) -> tuple[list[RatedItem], date | None]:
    items: list[RatedItem] = []
    current = terms
    for target in targets:
        result = rate_charge(current, target)
        items.extend(result.items)
        current = replace(current, billed_through=result.billed_through)
    return items, current.billed_through


@PROPERTY_SETTINGS
@given(recurring_terms(), target_offsets(), target_offsets())
def test_billing_in_two_runs_equals_billing_at_once(terms: ChargeTerms, a: int, b: int) -> None:
    d1, d2 = sorted((offsets(terms, a), offsets(terms, b)))
    first = rate_charge(terms, d1)
    second = rate_charge(replace(terms, billed_through=first.billed_through), d2)
    at_once = rate_charge(terms, d2)
    assert first.items + second.items == at_once.items
    assert second.billed_through == at_once.billed_through


@PROPERTY_SETTINGS
@given(recurring_terms(), st.lists(target_offsets(), min_size=1, max_size=8), target_offsets())
def test_total_does_not_depend_on_how_the_range_is_split(
    terms: ChargeTerms, cuts: list[int], final: int
) -> None:
    end = offsets(terms, final)
    targets = [*sorted(d for d in (offsets(terms, c) for c in cuts) if d <= end), end]
    items, watermark = bill_in_steps(terms, targets)
    at_once = rate_charge(terms, end)
    assert items == list(at_once.items)
    assert sum(i.amount for i in items) == sum(i.amount for i in at_once.items)
    assert watermark == at_once.billed_through


@PROPERTY_SETTINGS
@given(recurring_terms(), target_offsets())
def test_items_are_contiguous_non_overlapping_and_inside_one_aligned_period(
    terms: ChargeTerms, offset: int
) -> None:
    target = offsets(terms, offset)
    result = rate_charge(terms, target)
    charges = [i for i in result.items if not i.is_credit]
    credits = [i for i in result.items if i.is_credit]
    schedule = schedule_for(terms)
    effective_end = None if terms.end_date is None else max(terms.end_date, terms.start_date)

    if credits:
        assert not charges
        assert effective_end is not None
        assert terms.billed_through is not None
        cursor = effective_end
        for credit in credits:
            assert credit.service_start == cursor
            cursor = credit.service_end
        assert cursor == terms.billed_through
        assert result.billed_through == effective_end
    elif charges:
        cursor = resume_point(terms)
        for item in charges:
            assert item.service_start == cursor < item.service_end
            cursor = item.service_end
            if terms.billing_timing == BillingTiming.InArrears:
                assert item.service_end <= target
            else:
                assert item.service_start <= target
        assert cursor == result.billed_through
        if effective_end is not None:
            assert cursor <= effective_end
    else:
        assert result == RatingResult((), terms.billed_through)

    for item in result.items:
        assert item.charge_id == terms.charge_id
        assert item.service_start >= terms.start_date
        last_day = item.service_end - timedelta(days=1)
        assert schedule.index_of(item.service_start) == schedule.index_of(last_day)


@PROPERTY_SETTINGS
@given(recurring_terms(), st.lists(target_offsets(), min_size=1, max_size=6))
def test_watermark_only_moves_back_by_a_credit_and_amounts_are_rounded(
    terms: ChargeTerms, cuts: list[int]
) -> None:
    quantum = -minor_unit_exponent(terms.currency)
    current = terms
    for target in sorted(offsets(terms, c) for c in cuts):
        result = rate_charge(current, target)
        old, new = current.billed_through, result.billed_through
        if any(i.is_credit for i in result.items):
            assert old is not None
            assert new is not None
            assert new < old
        elif old is not None:
            assert new is not None
            assert new >= old
        for item in result.items:
            assert item.amount.as_tuple().exponent == quantum
            assert round_money(item.amount, terms.currency) == item.amount
            assert (item.amount < 0) <= item.is_credit
            assert (item.amount > 0) <= (not item.is_credit)
        current = replace(current, billed_through=new)


# --- independent oracle ------------------------------------------------------------


def naive_boundaries(terms: ChargeTerms, first: date, last: date) -> list[date]:
    """Boundaries found by scanning every day, sharing no code with the engine."""
    if terms.billing_period == BillingPeriod.Week:
        weekday = terms.weekly_bill_cycle_day
        if weekday is None:
            weekday = terms.start_date.weekday()
        days = ((first + timedelta(n)) for n in range((last - first).days + 1))
        return [d for d in days if d.weekday() == weekday]
    months = {
        BillingPeriod.Month: 1,
        BillingPeriod.Quarter: 3,
        BillingPeriod.Semi_Annual: 6,
        BillingPeriod.Annual: 12,
    }.get(terms.billing_period, terms.specific_billing_period or 0)

    def on_cycle_day(d: date) -> bool:
        next_day = d + timedelta(days=1)
        if d.day == terms.bill_cycle_day:
            return True
        # Month shorter than the BCD: the last day of the month stands in for it.
        return next_day.day == 1 and d.day < terms.bill_cycle_day

    aligned = [
        first + timedelta(n)
        for n in range((last - first).days + 1)
        if on_cycle_day(first + timedelta(n))
    ]
    anchor = next(d for d in aligned if d >= terms.start_date)
    phase = (anchor.year * 12 + anchor.month) % months
    return [d for d in aligned if (d.year * 12 + d.month) % months == phase]


@settings(max_examples=150, deadline=None)
@given(recurring_terms(with_history=False), st.integers(0, 400))
def test_matches_a_naive_day_scan(terms: ChargeTerms, offset: int) -> None:
    terms = replace(terms, end_date=None, billing_timing=BillingTiming.InAdvance)
    target = offsets(terms, offset)
    result = rate_charge(terms, target)
    window_start = terms.start_date - timedelta(days=460)
    bounds = naive_boundaries(terms, window_start, target + timedelta(days=460))
    price = period_price(terms)
    expected: list[tuple[date, date, Decimal]] = []
    for lo, hi in pairwise(bounds):
        if hi <= terms.start_date or lo > target:
            continue
        start = max(lo, terms.start_date)
        amount = round_money(price * (hi - start).days / (hi - lo).days, terms.currency)
        expected.append((start, hi, amount))
    assert [(i.service_start, i.service_end, i.amount) for i in result.items] == expected
