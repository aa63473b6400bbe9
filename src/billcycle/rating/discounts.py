"""Rating discount charges: Zuora's Discount-Percentage and Discount-Fixed Amount.

Pure, like the rest of rating. A discount charge has its own periods on its own grid
(like any recurring charge) and no price of its own: each period's amount is a share of
the items it discounts in that period, shown as its own negative invoice item. A
percentage takes that share of the discounted items (so a prorated item gets a
prorated discount); a fixed amount is prorated by the days of a partial period, as the
recurring charge it discounts is, and never discounts more than the items' total.
``UpToPeriods`` ends the discount that many billing periods after its start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from billcycle.money import from_minor, round_money, to_minor
from billcycle.rating.periods import _cycle_day
from billcycle.rating.types import BillingPeriod, ChargeModel, ChargeTerms

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_MONTHS = {
    BillingPeriod.Month: 1,
    BillingPeriod.Quarter: 3,
    BillingPeriod.Semi_Annual: 6,
    BillingPeriod.Annual: 12,
}


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month0 = divmod(index, 12)
    return date(year, month0 + 1, _cycle_day(year, month0 + 1, day.day))


def discount_end(terms: ChargeTerms, up_to_periods: int | None) -> date | None:
    """The discount's end: its own end date, or ``up_to_periods`` billing periods after
    its start if that comes first (Zuora's charge end for UpToPeriods)."""
    end = terms.end_date
    if up_to_periods is None:
        return end
    start = terms.start_date
    if terms.billing_period == BillingPeriod.Week:
        limit = start + timedelta(days=7 * up_to_periods)
    else:
        months = (
            terms.specific_billing_period or 1
            if terms.billing_period == BillingPeriod.Specific_Months
            else _MONTHS[terms.billing_period]
        )
        limit = _add_months(start, months * up_to_periods)
    return limit if end is None or limit < end else end


@dataclass(frozen=True, slots=True)
class Discounted:
    """One item a discount applies to: its service period and amount (minor units)."""

    start: date
    end: date
    amount_minor: int


def discount_minor(
    model: ChargeModel,
    value: Decimal,
    currency: str,
    start: date,
    end: date,
    period_start: date,
    period_end: date,
    items: Sequence[Discounted],
) -> int:
    """The (negative, minor units) amount of one discount period ``[start, end)`` of the
    aligned period ``[period_start, period_end)``, from the items it discounts: each
    counts for the share of its service that falls inside the discount's period."""
    base = _ZERO
    for item in items:
        lo = max(item.start, start)
        hi = min(item.end, end)
        if hi <= lo or item.amount_minor <= 0:
            continue
        share = from_minor(item.amount_minor, currency)
        days = (item.end - item.start).days
        if (hi - lo).days != days:
            share = share * (hi - lo).days / days
        base += share
    if base <= 0:
        return 0
    if model == ChargeModel.DiscountPercentage:
        amount = round_money(base * value / _HUNDRED, currency)
    elif model == ChargeModel.DiscountFixed:
        full = (end - start).days == (period_end - period_start).days
        cap = value if full else value * (end - start).days / (period_end - period_start).days
        amount = round_money(min(cap, base), currency)
    else:
        raise ValueError(f"{model!r} is not a discount model.")
    return -to_minor(amount, currency)
