"""Rating usage: a usage charge's billing periods in arrears, and the price of one
period's aggregated quantity.

Pure, like the rest of rating: the bill run sums each period's usage records in SQL and
hands the sums here. Usage is billed in arrears: a period is billable once it has ended
on or before the target date. Proration follows Zuora's rules for partial periods (a
charge starting or ending inside a period): quantities are never prorated (they are
what was used); a flat fee per period and the included units of an overage charge are,
by the days of the period the charge covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from billcycle.money import round_money
from billcycle.rating.periods import ServicePeriod, schedule_for
from billcycle.rating.pricing import tiered_amount, volume_tier
from billcycle.rating.types import ChargeModel, ChargeTerms, PriceFormat, Tier

_ZERO = Decimal(0)


def usage_periods(terms: ChargeTerms, target_date: date) -> list[ServicePeriod]:
    """The periods of a usage charge billable by ``target_date``, from its watermark:
    each ends on or before ``target_date`` (in arrears), cut by the charge's own start
    and end dates."""
    start = terms.start_date
    end = terms.end_date
    watermark = terms.billed_through
    resume = start if watermark is None or watermark < start else watermark
    if end is not None and resume >= end:
        return []
    schedule = schedule_for(terms)
    index = schedule.index_of(resume)
    lo = schedule.boundary(index)
    cursor = resume
    periods: list[ServicePeriod] = []
    while True:
        index += 1
        hi = schedule.boundary(index)
        seg_end = hi if end is None or hi < end else end
        if seg_end > target_date:
            break
        periods.append(ServicePeriod(cursor, seg_end, lo, hi))
        cursor = seg_end
        if cursor == end:
            break
        lo = hi
    return periods


@dataclass(frozen=True, slots=True)
class UsagePrice:
    """One period's usage item: its rounded amount, the unit price to show, and the
    rate detail lines (Zuora's ``rateDetail``) that explain the amount."""

    amount: Decimal
    unit_price: Decimal
    detail: tuple[str, ...]


def _fraction(period: ServicePeriod) -> Decimal:
    if period.is_full:
        return Decimal(1)
    return Decimal(period.days) / Decimal(period.period_days)


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _units(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _tier_range(tier: Tier) -> str:
    low = _units(tier.starting_unit)
    if tier.ending_unit is None:
        return f">={low}"
    return f"{low}-{_units(tier.ending_unit)}"


def price_usage(
    terms: ChargeTerms, quantity: Decimal, period: ServicePeriod, uom: str = "Each"
) -> UsagePrice:
    """The amount of one period of a usage charge whose records sum to ``quantity``."""
    if quantity < _ZERO:
        raise ValueError(f"Charge {terms.charge_id}: usage quantity {quantity:f} is negative.")
    currency = terms.currency
    model = terms.charge_model
    price = terms.price
    detail: tuple[str, ...]
    try:
        if model == ChargeModel.PerUnit:
            raw = price * quantity
            detail = (f"{_units(quantity)} {uom}(s) x {_money(price)}/{uom} = {_money(raw)}",)
            unit = price
        elif model == ChargeModel.FlatFee:
            raw = price * _fraction(period) if not period.is_full else price
            detail = (
                f"Flat fee {_money(price)}"
                + ("" if period.is_full else f" x {period.days}/{period.period_days} days")
                + f" = {_money(raw)}",
            )
            unit = price
        elif model == ChargeModel.Tiered:
            raw = tiered_amount(terms.tiers, quantity)
            detail = _tiered_detail(terms.tiers, quantity, uom)
            unit = raw / quantity if quantity else _ZERO
        elif model == ChargeModel.Volume:
            tier = volume_tier(terms.tiers, quantity) if quantity else None
            if tier is None:
                raw, detail = _ZERO, ("0 units: no tier applies = 0.00",)
            elif tier.price_format == PriceFormat.FlatFee:
                raw = tier.price
                detail = (f"Tier {_tier_range(tier)}: {_money(tier.price)} Flat Fee",)
            else:
                raw = tier.price * quantity
                detail = (
                    f"Tier {_tier_range(tier)}: {_units(quantity)} {uom}(s) x "
                    f"{_money(tier.price)}/{uom} = {_money(raw)}",
                )
            unit = raw / quantity if quantity else _ZERO
        elif model == ChargeModel.Overage:
            included_full = terms.included_units or _ZERO
            included = included_full * _fraction(period)
            over = quantity - included if quantity > included else _ZERO
            raw = price * over
            detail = (
                f"{_units(quantity)} {uom}(s) used, {_units(included)} included, "
                f"{_units(over)} {uom}(s) x {_money(price)}/{uom} = {_money(raw)}",
            )
            unit = price
        else:
            raise ValueError(f"charge model {model!r} cannot rate usage.")
    except ValueError as exc:
        raise ValueError(f"Charge {terms.charge_id}: {exc}") from None
    amount = round_money(raw, currency)
    return UsagePrice(amount, unit, (*detail, f"Total = {_money(amount)}"))


def _tiered_detail(tiers: tuple[Tier, ...], quantity: Decimal, uom: str) -> tuple[str, ...]:
    lines: list[str] = []
    for number, tier in enumerate(tiers, start=1):
        floor = max(tier.starting_unit - 1, _ZERO)
        if quantity <= floor:
            break
        top = (
            quantity
            if tier.ending_unit is None or quantity < tier.ending_unit
            else tier.ending_unit
        )
        units = top - floor
        if tier.price_format == PriceFormat.FlatFee:
            lines.append(f"Tier {number}: {_tier_range(tier)}, {_money(tier.price)} Flat Fee")
        else:
            lines.append(
                f"Tier {number}: {_tier_range(tier)}, {_units(units)} {uom}(s) x "
                f"{_money(tier.price)}/{uom} = {_money(tier.price * units)}"
            )
    return tuple(lines)
