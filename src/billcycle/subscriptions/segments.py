"""Changing a subscription's charge segments: ending them, starting the next one, and
moving them with the term.

A price or quantity change, a suspension or a resumption ends the current segment and
starts the next (see :class:`~billcycle.subscriptions.models.SubscriptionCharge`); a
cancellation or removal ends segments early. Nothing here computes money: ending a
segment before its ``billed_through`` is all it takes for rating to credit the
difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from billcycle.catalog import charge_terms as terms
from billcycle.catalog.price_tiers import TierTerms
from billcycle.catalog.vocabulary import TIERED_MODELS, ChargeType
from billcycle.subscriptions.charges import tier_rows
from billcycle.subscriptions.models import (
    SUBSCRIPTION,
    Subscription,
    SubscriptionCharge,
    SubscriptionChargeTier,
    SubscriptionRatePlan,
)


def successor(
    current: SubscriptionCharge,
    start: date,
    end: date | None,
    now: datetime,
    *,
    segment: int | None = None,
) -> SubscriptionCharge:
    """A new last segment of ``current``'s charge on ``[start, end)`` with its terms,
    numbered ``segment`` (default: the one after ``current``).

    ``current`` keeps its dates; the caller changes the successor's terms. The successor
    has billed nothing yet.
    """
    following = SubscriptionCharge(
        tenant_id=current.tenant_id,
        subscription_rate_plan_id=current.subscription_rate_plan_id,
        subscription_id=current.subscription_id,
        account_id=current.account_id,
        product_rate_plan_charge_id=current.product_rate_plan_charge_id,
        charge_number=current.charge_number,
        segment=segment if segment is not None else current.segment + 1,
        is_last_segment=True,
        name=current.name,
        description=current.description,
        charge_type=current.charge_type,
        charge_model=current.charge_model,
        billing_period=current.billing_period,
        specific_billing_period=current.specific_billing_period,
        billing_timing=current.billing_timing,
        bill_cycle_type=current.bill_cycle_type,
        bill_cycle_day=current.bill_cycle_day,
        weekly_bill_cycle_day=current.weekly_bill_cycle_day,
        trigger_event=current.trigger_event,
        currency=current.currency,
        quantity=current.quantity,
        price=current.price,
        uom=current.uom,
        included_units=current.included_units,
        discount_level=current.discount_level,
        apply_discount_to=current.apply_discount_to,
        up_to_periods=current.up_to_periods,
        effective_start_date=start,
        effective_end_date=end,
        grid_start_date=current.grid_start_date or current.effective_start_date,
        created_at=now,
        updated_at=now,
    )
    following.tiers = [
        SubscriptionChargeTier(
            tenant_id=t.tenant_id,
            tier=t.tier,
            starting_unit=t.starting_unit,
            ending_unit=t.ending_unit,
            price=t.price,
            price_format=t.price_format,
        )
        for t in current.tiers
    ]
    current.is_last_segment = False
    current.updated_at = now
    return following


def start_next_segment(current: SubscriptionCharge, on: date, now: datetime) -> SubscriptionCharge:
    """End ``current`` on ``on`` and return its successor from ``on`` to ``current``'s end.

    If ``current`` was billed past ``on``, rating credits that span on its own.
    """
    following = successor(current, on, current.effective_end_date, now)
    current.effective_end_date = on
    return following


def end_segment_by(charge: SubscriptionCharge, on: date, now: datetime) -> bool:
    """Make the segment end no later than ``on`` (never before its own start).

    Returns whether anything changed.
    """
    end = charge.effective_end_date
    new_end = max(charge.effective_start_date, on if end is None else min(end, on))
    if new_end == end:
        return False
    charge.effective_end_date = new_end
    charge.updated_at = now
    return True


def set_tiers(charge: SubscriptionCharge, tiers: Sequence[TierTerms]) -> None:
    charge.tiers = tier_rows(tiers, charge.tenant_id)


def is_tiered(charge: SubscriptionCharge) -> bool:
    return terms.charge_model(charge.charge_model, resource=SUBSCRIPTION) in TIERED_MODELS


def segments_by_charge(rate_plan: SubscriptionRatePlan) -> list[list[SubscriptionCharge]]:
    """A rate plan's charges, each as its segments in order."""
    grouped: dict[str, list[SubscriptionCharge]] = {}
    for charge in rate_plan.charges:
        grouped.setdefault(charge.charge_number, []).append(charge)
    return [sorted(group, key=lambda c: c.segment) for group in grouped.values()]


def all_segments(subscription: Subscription) -> Iterable[SubscriptionCharge]:
    for rate_plan in subscription.rate_plans:
        yield from rate_plan.charges


def move_term_end(
    subscription: Subscription, old_end: date | None, new_end: date | None, now: datetime
) -> None:
    """Charges that ran to the old term end run to the new one; nothing runs past it."""
    for rate_plan in subscription.rate_plans:
        for charge in rate_plan.charges:
            follows_term = (
                charge.is_last_segment
                and rate_plan.removed_date is None
                and charge.charge_type != ChargeType.OneTime
                and charge.effective_end_date == old_end
            )
            if follows_term:
                target = new_end if new_end is None else max(charge.effective_start_date, new_end)
                if target != charge.effective_end_date:
                    charge.effective_end_date = target
                    charge.updated_at = now
            elif new_end is not None:
                end_segment_by(charge, new_end, now)
