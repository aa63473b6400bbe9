"""Usage in bill runs: rate a chunk's usage charges from their records, bind the late
records to the items that billed them, free those when the invoices are cancelled; and
the rate detail of a billed usage item.

Called by invoice generation (``invoicing/generator.py``) only when a chunk holds usage
charges, so runs without usage pay nothing. Per chunk: the billable periods of every
usage charge are computed in Python (pure rating), the unbilled records of all of them
are summed in ONE grouped query and each (charge, period) becomes one invoice item. The
item's (charge, period) is the binding of every on-time record in it (by range: no
record is written, and voiding or deleting the item frees them). Late usage (a record
dated in a period already billed) is summed into the first period the run bills for its
charge and bound to that item by one UPDATE over the few late rows (docs/usage.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billcycle.context import ServiceContext
from billcycle.errors import DomainError, NotFound, RuleViolation
from billcycle.money import from_minor, to_minor
from billcycle.rating import ChargeTerms
from billcycle.rating.periods import ServicePeriod, periods_between
from billcycle.rating.usage import price_usage, usage_periods
from billcycle.subscriptions.rating_view import to_charge_terms
from billcycle.usage import repository as repo
from billcycle.usage.models import USAGE

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class UsageRating:
    """One usage charge's items (formatted tails), their total and the new watermark,
    or the reason it cannot be rated."""

    tails: tuple[Any, ...]
    amount_minor: int
    billed_through: date | None
    error: str | None = None
    items: tuple[tuple[date, date, int, bool], ...] = ()


ItemTail = Callable[[date, date, Decimal, Decimal, int, bool], Any]


def rate_usage_charges(
    session: Session,
    charges: Sequence[tuple[Any, int, Sequence[Any]]],
    target_date: date,
    item_tail: ItemTail,
) -> dict[int, UsageRating]:
    """Rate ``charges`` (typed charge row, the account's bill cycle day, its tiers)."""
    terms_by_id: dict[int, ChargeTerms] = {}
    periods_by_id: dict[int, list[ServicePeriod]] = {}
    rated: dict[int, UsageRating] = {}
    units = repo.included_units(session, [row.id for row, _bcd, _tiers in charges])
    for row, bcd, tiers in charges:
        try:
            terms = to_charge_terms(row, bcd, tiers)
            terms = dataclasses.replace(terms, included_units=units.get(row.id))
            periods = usage_periods(terms, target_date)
        except (ValueError, DomainError) as exc:
            rated[row.id] = UsageRating((), 0, None, str(exc))
            continue
        terms_by_id[row.id] = terms
        periods_by_id[row.id] = periods
    sums = repo.sum_periods(
        session,
        [(cid, p.start, p.end) for cid, periods in periods_by_id.items() for p in periods],
    )
    late = repo.sum_late(
        session, [(cid, periods[0].start) for cid, periods in periods_by_id.items() if periods]
    )
    for charge_id, periods in periods_by_id.items():
        terms = terms_by_id[charge_id]
        if not periods:
            rated[charge_id] = UsageRating((), 0, terms.billed_through)
            continue
        tails: list[Any] = []
        items: list[tuple[date, date, int, bool]] = []
        total = 0
        try:
            for period in periods:
                quantity, _count = sums.get((charge_id, period.start), (_ZERO, 0))
                if period is periods[0]:
                    quantity += late.get((charge_id, period.start), (_ZERO, 0))[0]
                price = price_usage(terms, quantity, period)
                minor = to_minor(price.amount, terms.currency)
                tails.append(
                    item_tail(period.start, period.end, quantity, price.unit_price, minor, False)
                )
                items.append((period.start, period.end, minor, False))
                total += minor
        except (ValueError, DomainError) as exc:
            rated[charge_id] = UsageRating((), 0, None, str(exc))
            continue
        rated[charge_id] = UsageRating(tuple(tails), total, periods[-1].end, None, tuple(items))
    return rated


def bind_billed_usage(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> None:
    """Bind the late records the usage items just written on ``invoice_ids`` billed
    (on-time records are billed by the items' periods: nothing to write)."""
    repo.bind_records(session, tenant_id, invoice_ids)


def free_usage(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> None:
    """Cancelled invoices give their usage back: the next bill run bills it once. Only
    late records are written; on-time ones are free once the items are voided."""
    repo.free_records(session, tenant_id, invoice_ids)


# -- rate detail ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateDetail:
    item_id: int
    invoice_id: int
    invoice_number: str
    charge_number: str
    amount: Decimal
    quantity: Decimal
    uom: str
    service_start: date
    service_end: date
    list_price: str
    rate_detail: str


def _list_price(terms: ChargeTerms) -> str:
    if terms.tiers:
        lines = ["Tier / From / To / List Price / Price Format"]
        for number, tier in enumerate(terms.tiers, start=1):
            to = "" if tier.ending_unit is None else format(tier.ending_unit.normalize(), "f")
            lines.append(
                f"{number} / {format(tier.starting_unit.normalize(), 'f')} / {to} / "
                f"{tier.price:.2f} / {tier.price_format}"
            )
        return "\n".join(lines)
    return f"{terms.price:.2f}"


def rate_detail(ctx: ServiceContext, item_id: int) -> RateDetail:
    """How a usage item's amount was computed from the records it billed."""
    session, tenant_id = ctx.session, ctx.tenant_id
    item = repo.billed_item(session, tenant_id, item_id)
    if item is None:
        raise NotFound(
            "Invoice item {item} does not exist.", resource="invoice", ids={"item": item_id}
        )
    if item.charge_type != "Usage":
        raise RuleViolation(
            "Invoice item {item} is not a usage item; only usage items have a rate detail.",
            resource=USAGE,
            ids={"item": item_id},
        )
    segment = repo.charge_segment(session, tenant_id, item.charge_id)
    if segment is None:
        raise NotFound(
            "Invoice item {item} does not exist.", resource="invoice", ids={"item": item_id}
        )
    bcd = repo.account_bill_cycle_day(session, tenant_id, segment.account_id)
    terms = dataclasses.replace(
        to_charge_terms(segment, bcd), included_units=segment.included_units, billed_through=None
    )
    period = _period_of(terms, item.service_start, item.service_end)
    uom = segment.uom or "Each"
    price = price_usage(terms, item.quantity, period, uom)
    detail = list(price.detail)
    late = repo.late_records(session, tenant_id, item.item_id, item.service_start)
    if late:
        detail.append(
            f"Includes {format(late.normalize(), 'f')} {uom}(s) of late usage dated before "
            f"{item.service_start.strftime('%m/%d/%Y')}, billed with this period."
        )
    return RateDetail(
        item_id=item.item_id,
        invoice_id=item.invoice_id,
        invoice_number=item.invoice_number,
        charge_number=item.charge_number,
        amount=from_minor(item.amount_minor, item.currency),
        quantity=item.quantity,
        uom=uom,
        service_start=item.service_start,
        service_end=item.service_end,
        list_price=_list_price(terms),
        rate_detail="\n".join(detail),
    )


def _period_of(terms: ChargeTerms, start: date, end: date) -> ServicePeriod:
    for period in periods_between(terms, start, end):
        return ServicePeriod(start, end, period.period_start, period.period_end)
    return ServicePeriod(start, end, start, end)
