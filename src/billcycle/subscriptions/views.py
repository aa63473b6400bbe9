"""Reading subscriptions as Zuora shows them, with their metrics (contracted MRR and
total contract value) and what a change did to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from billcycle.accounts.models import Account
from billcycle.catalog.charge_terms import match_name
from billcycle.catalog.vocabulary import BillingPeriod, ChargeType
from billcycle.context import ServiceContext
from billcycle.errors import MissingField, NotFound
from billcycle.money import round_money
from billcycle.rating import price_and_unit_price
from billcycle.subscriptions import repository
from billcycle.subscriptions.inputs import ObjectKey
from billcycle.subscriptions.models import (
    SUBSCRIPTION,
    Subscription,
    SubscriptionCharge,
    SubscriptionRatePlan,
)
from billcycle.subscriptions.rating_view import to_charge_terms
from billcycle.subscriptions.segments import segments_by_charge
from billcycle.subscriptions.service import account_of, find_account
from billcycle.subscriptions.statuses import ChargeDetail, SubscriptionStatus
from billcycle.subscriptions.terms import months_between

_ZERO = Decimal(0)


# -- metrics ----------------------------------------------------------------------------------

_MONTHS_PER_PERIOD: dict[BillingPeriod, Decimal] = {
    BillingPeriod.Month: Decimal(1),
    BillingPeriod.Quarter: Decimal(3),
    BillingPeriod.Semi_Annual: Decimal(6),
    BillingPeriod.Annual: Decimal(12),
    BillingPeriod.Week: Decimal(12) / Decimal(52),
}


def segment_mrr(charge: SubscriptionCharge) -> Decimal:
    """Monthly recurring revenue of one segment, unrounded (0 unless recurring)."""
    if charge.charge_type != ChargeType.Recurring:
        return _ZERO
    # The bill cycle day does not change a period's price.
    terms = to_charge_terms(charge, charge.bill_cycle_day or 1)
    price, _ = price_and_unit_price(terms)
    if terms.billing_period == BillingPeriod.Specific_Months:
        months = Decimal(terms.specific_billing_period or 1)
    else:
        months = _MONTHS_PER_PERIOD[terms.billing_period]
    return price / months


def segment_tcv(charge: SubscriptionCharge) -> Decimal | None:
    """Total contract value of one segment, unrounded; None when it never ends.

    Zuora's rule: a recurring segment is worth its MRR times the months it is effective
    (a partial month prorated by that month's days); a one-time charge its price; usage
    nothing.
    """
    if charge.charge_type == ChargeType.Usage:
        return _ZERO
    end = charge.effective_end_date
    if charge.charge_type == ChargeType.OneTime:
        if end is not None and end <= charge.effective_start_date:
            return _ZERO
        price, _ = price_and_unit_price(to_charge_terms(charge, charge.bill_cycle_day or 1))
        return price
    if end is None:
        return None
    return segment_mrr(charge) * months_between(charge.effective_start_date, end)


@dataclass(frozen=True, slots=True)
class Metrics:
    """Contracted MRR and total contract value (None when open-ended, as Zuora shows)."""

    mrr: Decimal
    tcv: Decimal | None


@dataclass(frozen=True, slots=True)
class Delta:
    mrr: Decimal
    tcv: Decimal | None


@dataclass(frozen=True, slots=True)
class Changed:
    """A changed subscription and what the change did to its metrics."""

    subscription: Subscription
    delta: Delta


def _counts_in_mrr(subscription: Subscription, rate_plan: SubscriptionRatePlan) -> bool:
    return subscription.status == SubscriptionStatus.ACTIVE and rate_plan.removed_date is None


def _live_mrr(charge: SubscriptionCharge) -> Decimal:
    end = charge.effective_end_date
    if end is not None and end <= charge.effective_start_date:
        return Decimal(0)
    return segment_mrr(charge)


def metrics(subscription: Subscription, currency: str) -> Metrics:
    mrr = Decimal(0)
    tcv: Decimal | None = Decimal(0)
    for rate_plan in subscription.rate_plans:
        for segments in segments_by_charge(rate_plan):
            if _counts_in_mrr(subscription, rate_plan):
                mrr += _live_mrr(segments[-1])
            for segment in segments:
                value = segment_tcv(segment)
                tcv = None if value is None or tcv is None else tcv + value
    return Metrics(
        mrr=round_money(mrr, currency),
        tcv=round_money(tcv, currency) if tcv is not None else None,
    )


def delta(before: Metrics, after: Metrics) -> Delta:
    tcv = after.tcv - before.tcv if after.tcv is not None and before.tcv is not None else None
    return Delta(mrr=after.mrr - before.mrr, tcv=tcv)


@dataclass(frozen=True, slots=True)
class SegmentView:
    segment: SubscriptionCharge
    mrr: Decimal
    tcv: Decimal | None
    bill_cycle_day: int


@dataclass(frozen=True, slots=True)
class ChargeView:
    """The segment a reader asked for, plus every segment (for ``all-segments``)."""

    shown: SegmentView
    segments: tuple[SegmentView, ...]


@dataclass(frozen=True, slots=True)
class RatePlanView:
    rate_plan: SubscriptionRatePlan
    charges: tuple[ChargeView, ...]
    mrr: Decimal


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    subscription: Subscription
    account: Account
    rate_plans: tuple[RatePlanView, ...]
    metrics: Metrics


def _segment_view(charge: SubscriptionCharge, account: Account) -> SegmentView:
    tcv = segment_tcv(charge)
    return SegmentView(
        segment=charge,
        mrr=round_money(_live_mrr(charge), charge.currency),
        tcv=round_money(tcv, charge.currency) if tcv is not None else None,
        bill_cycle_day=charge.bill_cycle_day or account.bill_cycle_day,
    )


def _pick(segments: Sequence[SubscriptionCharge], detail: str, day: date) -> int | None:
    if detail in (ChargeDetail.LAST_SEGMENT, ChargeDetail.ALL_SEGMENTS):
        return len(segments) - 1
    for index, charge in enumerate(segments):
        start, end = charge.effective_start_date, charge.effective_end_date
        if detail == ChargeDetail.SPECIFIC_SEGMENT and day == start:
            return index
        if start <= day and (end is None or day < end):
            return index
    return None


def view_subscription(
    ctx: ServiceContext,
    subscription: Subscription,
    *,
    detail: str | None = None,
    as_of: date | None = None,
    account: Account | None = None,
) -> SubscriptionView:
    """A subscription as Zuora's GET shows it: which segment of each charge is shown
    follows Zuora's ``charge-detail`` (default: the last segment)."""
    mode = (
        match_name(detail, tuple(ChargeDetail), "charge-detail", resource=SUBSCRIPTION)
        if detail
        else ChargeDetail.LAST_SEGMENT
    )
    if mode == ChargeDetail.SPECIFIC_SEGMENT and as_of is None:
        raise MissingField(
            "as-of-date is required when charge-detail is specific-segment.",
            resource=SUBSCRIPTION,
            field="as-of-date",
        )
    day = (
        as_of if mode == ChargeDetail.SPECIFIC_SEGMENT and as_of is not None else ctx.clock.today()
    )
    owner = account or account_of(ctx, subscription)
    plans: list[RatePlanView] = []
    for rate_plan in subscription.rate_plans:
        charge_views: list[ChargeView] = []
        plan_mrr = Decimal(0)
        for segments in segments_by_charge(rate_plan):
            index = _pick(segments, mode, day)
            if index is None:
                continue
            views = tuple(_segment_view(charge, owner) for charge in segments)
            charge_views.append(ChargeView(shown=views[index], segments=views))
            if _counts_in_mrr(subscription, rate_plan):
                plan_mrr += views[-1].mrr
        plans.append(RatePlanView(rate_plan, tuple(charge_views), plan_mrr))
    return SubscriptionView(
        subscription, owner, tuple(plans), metrics(subscription, owner.currency)
    )


def subscriptions_of_account(
    ctx: ServiceContext, account_key: ObjectKey, *, offset: int, limit: int
) -> tuple[Account, list[Subscription], int]:
    """(account, one page of its subscriptions, how many it has in all)."""
    account = find_account(ctx, account_key)
    if account is None:
        raise NotFound(f"Account {account_key.text} does not exist.", resource="account")
    page = repository.subscriptions_of_account(
        ctx.session, ctx.tenant_id, account.id, offset=offset, limit=limit
    )
    total = repository.count_subscriptions_of_account(ctx.session, ctx.tenant_id, account.id)
    return account, page, total
