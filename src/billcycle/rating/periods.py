"""Billing-period arithmetic aligned to the bill cycle day.

Boundaries are computed from an integer period index (a month index or a day ordinal),
never by repeatedly adding months, so a BCD of 31 goes Jan 31 -> Feb 28/29 -> Mar 31
without drifting to the 28th. Period ``j`` is ``[boundary(j), boundary(j + 1))``;
``boundary(0)`` is the anchor (the first aligned date on or after the charge start), so
a partial first period automatically sits inside period ``-1``, which is exactly the full
aligned period Zuora prorates it against.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from billcycle.rating.types import BillingPeriod, ChargeTerms

_MONTHS_PER_PERIOD: dict[str, int] = {
    BillingPeriod.Month: 1,
    BillingPeriod.Quarter: 3,
    BillingPeriod.Semi_Annual: 6,
    BillingPeriod.Annual: 12,
}

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    # A table beats calendar.monthrange in the hot loop (no weekday computation).
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month - 1]


def _cycle_day(year: int, month: int, bcd: int) -> int:
    """The BCD clamped to the month, so BCD 31 lands on the last day of short months."""
    if bcd <= 28:
        return bcd
    dim = _days_in_month(year, month)
    return bcd if bcd < dim else dim


class Schedule(Protocol):
    """An infinite sequence of aligned boundaries, addressable in O(1) both ways."""

    def boundary(self, index: int) -> date:
        """The start of aligned period ``index`` (period 0 starts at the anchor)."""
        ...

    def index_of(self, day: date) -> int:
        """The aligned period that contains ``day``."""
        ...


@dataclass(frozen=True, slots=True)
class MonthlySchedule:
    """Periods of ``months`` months on the bill cycle day; ``origin`` is the anchor's
    month index (``year * 12 + month - 1``)."""

    months: int
    bcd: int
    origin: int

    def boundary(self, index: int) -> date:
        year, month0 = divmod(self.origin + index * self.months, 12)
        return date(year, month0 + 1, _cycle_day(year, month0 + 1, self.bcd))

    def index_of(self, day: date) -> int:
        month_index = day.year * 12 + day.month - 1
        if day.day < _cycle_day(day.year, day.month, self.bcd):
            month_index -= 1
        return (month_index - self.origin) // self.months


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Seven-day periods; ``origin`` is the anchor's proleptic ordinal."""

    origin: int

    def boundary(self, index: int) -> date:
        return date.fromordinal(self.origin + 7 * index)

    def index_of(self, day: date) -> int:
        return (day.toordinal() - self.origin) // 7


def schedule_for(terms: ChargeTerms) -> Schedule:
    """The aligned period grid of a recurring charge, phased from its grid start."""
    start = terms.grid_start or terms.start_date
    if terms.billing_period == BillingPeriod.Week:
        wbcd = terms.weekly_bill_cycle_day
        offset = 0 if wbcd is None else (wbcd - start.weekday()) % 7
        return WeeklySchedule(start.toordinal() + offset)
    if terms.billing_period == BillingPeriod.Specific_Months:
        months = terms.specific_billing_period
        if months is None or months < 1:
            raise ValueError(
                f"Charge {terms.charge_id}: Specific_Months needs specific_billing_period >= 1."
            )
    else:
        months = _MONTHS_PER_PERIOD[terms.billing_period]
    bcd = terms.bill_cycle_day
    # Multi-month periods are phased by the first BCD-aligned date on/after the start,
    # not by the calendar quarter/year.
    anchor_month = start.year * 12 + start.month - 1
    if start.day > _cycle_day(start.year, start.month, bcd):
        anchor_month += 1
    return MonthlySchedule(months, bcd, anchor_month)


def anchor_date(terms: ChargeTerms) -> date:
    """The first aligned boundary on or after ``terms.start_date``."""
    return schedule_for(terms).boundary(0)


@dataclass(frozen=True, slots=True)
class ServicePeriod:
    """A billable slice ``[start, end)`` of the aligned period ``[period_start, period_end)``.

    Both ranges are kept because proration is by the ratio of their lengths.
    """

    start: date
    end: date
    period_start: date
    period_end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def period_days(self) -> int:
        return (self.period_end - self.period_start).days

    @property
    def is_full(self) -> bool:
        return self.start == self.period_start and self.end == self.period_end


def periods_between(terms: ChargeTerms, start: date, end: date) -> Iterator[ServicePeriod]:
    """Cut ``[start, end)`` at the charge's aligned boundaries.

    Not clipped to the charge's own start/end dates, so callers (credits, future usage
    rating) can slice any window on the same grid the recurring charge is billed on.
    """
    if start >= end:
        return
    schedule = schedule_for(terms)
    index = schedule.index_of(start)
    lo = schedule.boundary(index)
    cursor = start
    while cursor < end:
        index += 1
        hi = schedule.boundary(index)
        yield ServicePeriod(cursor, hi if hi < end else end, lo, hi)
        lo = cursor = hi
