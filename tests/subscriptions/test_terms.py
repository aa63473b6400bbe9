"""Term arithmetic: month ends, leap years, exclusive ends, out-of-range dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billcycle.errors import InvalidValue
from billcycle.subscriptions.terms import (
    add_period,
    check_date,
    months_between,
    normalize_period_type,
    term_end,
)


@pytest.mark.parametrize(
    ("start", "length", "period", "end"),
    [
        (date(2026, 1, 1), 12, "Month", date(2027, 1, 1)),
        (date(2026, 1, 31), 1, "Month", date(2026, 2, 28)),
        (date(2028, 1, 31), 1, "Month", date(2028, 2, 29)),  # leap year
        (date(2026, 1, 31), 2, "Month", date(2026, 3, 31)),  # not drifted to the 28th
        (date(2026, 3, 31), 1, "Month", date(2026, 4, 30)),
        (date(2026, 11, 30), 3, "Month", date(2027, 2, 28)),
        (date(2028, 2, 29), 1, "Year", date(2029, 2, 28)),
        (date(2028, 2, 29), 4, "Year", date(2032, 2, 29)),
        (date(2026, 12, 31), 1, "Day", date(2027, 1, 1)),
        (date(2026, 2, 25), 1, "Week", date(2026, 3, 4)),
        (date(2028, 2, 25), 1, "Week", date(2028, 3, 3)),
    ],
)
def test_term_end_is_exclusive_and_clamped(
    start: date, length: int, period: str, end: date
) -> None:
    assert term_end(start, length, period) == end


def test_each_renewal_counts_from_its_own_start() -> None:
    first = term_end(date(2026, 1, 31), 1, "Month")
    assert first == date(2026, 2, 28)
    assert term_end(first, 1, "Month") == date(2026, 3, 28)


def test_overflow_is_an_invalid_value() -> None:
    with pytest.raises(InvalidValue):
        add_period(date(9999, 12, 1), 1, "Month")
    with pytest.raises(InvalidValue):
        add_period(date(2026, 1, 1), 10**9, "Day")
    with pytest.raises(InvalidValue):
        add_period(date(2026, 1, 1), 10**6, "Year")
    with pytest.raises(InvalidValue):
        check_date(date(1899, 12, 31), "contractEffectiveDate")


def test_months_between_prorates_the_last_partial_month() -> None:
    assert months_between(date(2027, 1, 1), date(2027, 3, 1)) == 2
    # Zuora's TCV example: Jan 1 to Feb 15 is one month and 14 of February's 28 days.
    assert months_between(date(2027, 1, 1), date(2027, 2, 15)) == Decimal("1.5")
    assert months_between(date(2026, 1, 31), date(2026, 2, 28)) == 1
    assert months_between(date(2026, 1, 1), date(2026, 1, 1)) == 0
    assert months_between(date(2026, 1, 1), date(2027, 1, 1)) == 12


def test_period_type_names() -> None:
    assert normalize_period_type(None, "f") == "Month"
    assert normalize_period_type("year", "f") == "Year"
    with pytest.raises(InvalidValue):
        normalize_period_type("Fortnight", "f")
