"""Term and calendar arithmetic for subscriptions.

A term is ``[start, start + length)``: the end is exclusive, as everywhere in billcycle,
so consecutive terms chain without off-by-one adjustments. Months are added by month
index and clamped to the target month's length (Jan 31 + 1 month = Feb 28, or Feb 29 in
a leap year), never by repeated day arithmetic. Each term is computed from its own start,
so monthly renewals of a Jan 31 subscription go Feb 28 -> Mar 28 (as Zuora renews).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal

from billcycle.errors import InvalidValue
from billcycle.subscriptions.models import SUBSCRIPTION
from billcycle.subscriptions.statuses import TermPeriodType

# The dates billcycle accepts on the wire. The lower bound keeps obvious typos (0026 for
# 2026) out; arithmetic past the upper bound is refused rather than overflowing.
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(9999, 12, 31)


def normalize_period_type(
    value: str | None, field: str, default: str = TermPeriodType.MONTH
) -> str:
    """Zuora's term period type, case-insensitively; ``default`` when not given."""
    if value is None or value == "":
        return default
    for known in TermPeriodType:
        if value.lower() == known.lower():
            return known
    raise InvalidValue(
        f"Invalid value for {field}: '{value}'. Use one of {', '.join(TermPeriodType)}.",
        resource=SUBSCRIPTION,
        field=field,
    )


def check_date(value: date, field: str) -> date:
    if not MIN_DATE <= value <= MAX_DATE:
        raise InvalidValue(
            f"Invalid value for {field}: {value.isoformat()} is outside the supported range "
            f"{MIN_DATE.isoformat()} to {MAX_DATE.isoformat()}.",
            resource=SUBSCRIPTION,
            field=field,
        )
    return value


def _out_of_range(start: date, what: str) -> InvalidValue:
    return InvalidValue(
        f"The {what} computed from {start.isoformat()} falls after {MAX_DATE.isoformat()}.",
        resource=SUBSCRIPTION,
    )


def add_months(start: date, months: int) -> date:
    """``start`` moved by whole months, clamped to the end of a shorter month."""
    index = start.year * 12 + start.month - 1 + months
    year, month0 = divmod(index, 12)
    if not MIN_DATE.year <= year <= MAX_DATE.year:
        raise _out_of_range(start, "date")
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(start.day, last))


def add_days(start: date, days: int) -> date:
    try:
        result = start + timedelta(days=days)
    except OverflowError:
        raise _out_of_range(start, "date") from None
    if not MIN_DATE <= result <= MAX_DATE:
        raise _out_of_range(start, "date")
    return result


def add_period(start: date, length: int, period_type: str) -> date:
    """``start`` plus ``length`` periods of ``period_type`` (Day, Week, Month or Year)."""
    if period_type == TermPeriodType.MONTH:
        return add_months(start, length)
    if period_type == TermPeriodType.YEAR:
        if abs(length) > MAX_DATE.year:
            raise _out_of_range(start, "date")
        return add_months(start, 12 * length)
    if period_type == TermPeriodType.WEEK:
        if abs(length) > 7 * MAX_DATE.year * 53:
            raise _out_of_range(start, "date")
        return add_days(start, 7 * length)
    if period_type == TermPeriodType.DAY:
        return add_days(start, length)
    raise ValueError(f"unknown period type {period_type!r}")


def term_end(start: date, length: int, period_type: str) -> date:
    """The exclusive end of a term of ``length`` periods starting on ``start``."""
    return add_period(start, length, period_type)


def months_between(start: date, end: date) -> Decimal:
    """Months from ``start`` to ``end``: whole months counted from ``start``'s day, plus
    the remaining days as a fraction of the month they fall in (Zuora's TCV rule:
    Jan 1 to Feb 15 is 1 + 14/28 months in a non-leap year)."""
    if end <= start:
        return Decimal(0)
    whole = (end.year - start.year) * 12 + end.month - start.month
    if add_months(start, whole) > end:
        whole -= 1
    cursor = add_months(start, whole)
    if cursor == end:
        return Decimal(whole)
    following = add_months(start, whole + 1)
    return Decimal(whole) + Decimal((end - cursor).days) / Decimal((following - cursor).days)
