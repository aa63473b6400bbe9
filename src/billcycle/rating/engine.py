"""Rate one charge up to a target date: terms in, invoice items and a new watermark out.

Pure on purpose (no clock, no I/O): the bill run decides the target date and persists
the watermark, so rating can be replayed, tested exhaustively and run in parallel.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from billcycle.money import round_money
from billcycle.rating.periods import schedule_for
from billcycle.rating.pricing import price_and_unit_price
from billcycle.rating.types import (
    BillingTiming,
    ChargeTerms,
    ChargeType,
    RatedItem,
    RatingResult,
)

_NO_ITEMS: tuple[RatedItem, ...] = ()
_ONE_DAY = timedelta(days=1)


def rate_charge(terms: ChargeTerms, target_date: date) -> RatingResult:
    """Items billable on or before ``target_date`` that the watermark has not covered.

    Items are always whole aligned periods (cut only by the charge's own start/end
    dates, never by the target date), so billing to D1 then to D2 yields exactly what
    billing to D2 at once does. A cancellation credit is issued as soon as the terms show
    one is owed (``billed_through`` past ``end_date``), whatever the target date: the
    refund is already certain and holding it back would only delay it.

    Usage charges yield nothing and keep their watermark: rating them needs usage
    records, which this module does not receive yet.
    """
    charge_type = terms.charge_type
    if charge_type == ChargeType.Recurring:
        return _rate_recurring(terms, target_date)
    if charge_type == ChargeType.OneTime:
        return _rate_one_time(terms, target_date)
    return RatingResult(_NO_ITEMS, terms.billed_through)


def _rate_one_time(terms: ChargeTerms, target_date: date) -> RatingResult:
    # Billed once, on the start date, whatever the billing timing; never prorated and
    # never credited back by a cancellation (the fee is not for a period of service).
    start = terms.start_date
    watermark = terms.billed_through
    end = terms.end_date
    if (
        start > target_date
        or (end is not None and end <= start)
        or (watermark is not None and watermark > start)
    ):
        return RatingResult(_NO_ITEMS, watermark)
    price, unit_price = price_and_unit_price(terms)
    day_after = start + _ONE_DAY
    item = RatedItem(
        terms.charge_id,
        start,
        day_after,
        terms.quantity,
        unit_price,
        round_money(price, terms.currency),
        False,
    )
    return RatingResult((item,), day_after)


def _rate_recurring(terms: ChargeTerms, target_date: date) -> RatingResult:
    start = terms.start_date
    end = terms.end_date
    if end is not None and end < start:
        end = start  # ended before it began: no service at all, and nothing to refund
    watermark = terms.billed_through
    # Priced up front (not lazily) so an invalid tier table fails on every call, not only
    # on calls that happen to bill something.
    price, unit_price = price_and_unit_price(terms)
    currency = terms.currency
    charge_id = terms.charge_id
    quantity = terms.quantity
    schedule = schedule_for(terms)
    items: list[RatedItem] = []

    if end is not None and watermark is not None and watermark > end:
        # Service already billed past the end: refund it per aligned period so each
        # credit mirrors the proration rule that billed it.
        index = schedule.index_of(end)
        lo = schedule.boundary(index)
        cursor = end
        while cursor < watermark:
            index += 1
            hi = schedule.boundary(index)
            seg_end = hi if hi < watermark else watermark
            if cursor == lo and seg_end == hi:
                owed = price
            else:
                owed = price * (seg_end - cursor).days / (hi - lo).days
            credit = -round_money(owed, currency)
            if not credit:
                credit = abs(credit)  # a zero credit must not print as "-0.00"
            items.append(RatedItem(charge_id, cursor, seg_end, quantity, unit_price, credit, True))
            lo = cursor = hi
        return RatingResult(tuple(items), end)

    resume = start if watermark is None or watermark < start else watermark
    in_advance = terms.billing_timing != BillingTiming.InArrears
    if (end is not None and resume >= end) or (in_advance and resume > target_date):
        return RatingResult(_NO_ITEMS, watermark)

    index = schedule.index_of(resume)
    lo = schedule.boundary(index)
    cursor = resume
    full_amount: Decimal | None = None
    while True:
        # Test the in-advance stop before computing the next boundary: it is the common
        # exit and boundary() is the costliest step of the loop.
        if in_advance and cursor > target_date:
            break
        index += 1
        hi = schedule.boundary(index)
        seg_end = hi if end is None or hi < end else end
        if not in_advance and seg_end > target_date:
            break
        if cursor == lo and seg_end == hi:
            if full_amount is None:
                full_amount = round_money(price, currency)
            amount = full_amount
        else:
            # Multiply before dividing: one rounding (round_money) of the exact ratio.
            amount = round_money(price * (seg_end - cursor).days / (hi - lo).days, currency)
        items.append(RatedItem(charge_id, cursor, seg_end, quantity, unit_price, amount, False))
        cursor = seg_end
        if cursor == end:
            break
        lo = hi

    if not items:
        return RatingResult(_NO_ITEMS, watermark)
    return RatingResult(tuple(items), cursor)
