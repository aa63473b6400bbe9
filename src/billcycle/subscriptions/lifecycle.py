"""A subscription's lifecycle: cancelling, suspending, resuming and renewing it.

Cancelling and suspending end charge segments from a date (service already billed past
it is credited by rating); resuming starts new segments; renewing moves the term end
and the charges that follow it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from billcycle.catalog.charge_terms import match_name
from billcycle.catalog.vocabulary import ChargeType
from billcycle.context import ServiceContext
from billcycle.errors import MissingField
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.subscriptions import repository
from billcycle.subscriptions.checks import (
    MAX_PERIODS,
    count,
    invalid,
    require_status,
    required_date,
    rule,
    within_subscription,
)
from billcycle.subscriptions.inputs import Cancellation, ObjectKey, Resumption, Suspension
from billcycle.subscriptions.models import (
    SUBSCRIPTION,
    Subscription,
    SubscriptionCharge,
    SubscriptionRatePlan,
)
from billcycle.subscriptions.segments import (
    all_segments,
    end_segment_by,
    move_term_end,
    segments_by_charge,
    successor,
)
from billcycle.subscriptions.service import account_of, find_subscription, touch
from billcycle.subscriptions.statuses import (
    CancellationPolicy,
    RenewalSetting,
    ResumePolicy,
    SubscriptionStatus,
    SuspendPolicy,
    TermType,
)
from billcycle.subscriptions.terms import (
    add_days,
    add_period,
    check_date,
    normalize_period_type,
    term_end,
)
from billcycle.subscriptions.views import Changed, delta, metrics


def _end_of_last_invoice_period(subscription: Subscription) -> date:
    """The latest billed-through date of any charge, or the start if nothing was billed."""
    billed = [c.billed_through for c in all_segments(subscription) if c.billed_through]
    return max(billed) if billed else subscription.subscription_start_date


def _cancellation_date(subscription: Subscription, cancellation: Cancellation) -> date:
    policy = match_name(
        cancellation.policy, tuple(CancellationPolicy), "cancellationPolicy", resource=SUBSCRIPTION
    )
    if policy == CancellationPolicy.END_OF_CURRENT_TERM:
        if subscription.term_end_date is None:
            raise rule("An EVERGREEN subscription has no current term end to cancel on.")
        return subscription.term_end_date
    if policy == CancellationPolicy.SPECIFIC_DATE:
        return required_date(
            cancellation.effective_date, "cancellationEffectiveDate", "cancellationPolicy"
        )
    return _end_of_last_invoice_period(subscription)


def cancel_subscription(ctx: ServiceContext, key: ObjectKey, cancellation: Cancellation) -> Changed:
    """Cancel from a date: every charge segment ends by then (already-billed service past
    it is credited by rating). An Active or a Suspended subscription can be cancelled (as
    Zuora allows cancelling a suspended one: its segments already ended on the suspend
    date stay ended)."""
    subscription = find_subscription(ctx, key, lock=True)
    require_status(
        subscription, (SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED), "cancelled"
    )
    day = within_subscription(
        subscription,
        _cancellation_date(subscription, cancellation),
        "cancellationEffectiveDate",
    )
    account = account_of(ctx, subscription)
    before = metrics(subscription, account.currency)
    now = ctx.clock.now()
    for charge in all_segments(subscription):
        end_segment_by(charge, day, now)
    subscription.status = SubscriptionStatus.CANCELLED
    subscription.cancelled_date = day
    subscription.subscription_end_date = day
    touch(subscription, now)
    ctx.session.flush()
    events.emit(ctx, EventType.SUBSCRIPTION_CANCELLED, subscription)
    return Changed(subscription, delta(before, metrics(subscription, account.currency)))


def _periods(number: int | None, period_type: str | None, field: str) -> tuple[int, str]:
    if number is None:
        raise MissingField(
            f"{field} is required by this policy.", resource=SUBSCRIPTION, field=field
        )
    count(number, field, 1, MAX_PERIODS)
    if not period_type:
        raise MissingField(
            f"{field}Type is required by this policy.", resource=SUBSCRIPTION, field=f"{field}Type"
        )
    return number, normalize_period_type(period_type, f"{field}Type")


def _suspend_date(ctx: ServiceContext, subscription: Subscription, suspension: Suspension) -> date:
    policy = match_name(
        suspension.policy, tuple(SuspendPolicy), "suspendPolicy", resource=SUBSCRIPTION
    )
    today = ctx.clock.today()
    if policy == SuspendPolicy.TODAY:
        return today
    if policy == SuspendPolicy.SPECIFIC_DATE:
        day = required_date(suspension.specific_date, "suspendSpecificDate", "suspendPolicy")
        return check_date(day, "suspendSpecificDate")
    if policy == SuspendPolicy.FIXED_PERIODS_FROM_TODAY:
        count, period = _periods(suspension.periods, suspension.periods_type, "suspendPeriods")
        return add_period(today, count, period)
    return _end_of_last_invoice_period(subscription)


def _resume_date(ctx: ServiceContext, suspended_on: date, resumption: Resumption) -> date:
    if not resumption.policy:
        raise MissingField(
            "resumePolicy is required to resume.", resource=SUBSCRIPTION, field="resumePolicy"
        )
    policy = match_name(
        resumption.policy, tuple(ResumePolicy), "resumePolicy", resource=SUBSCRIPTION
    )
    if policy == ResumePolicy.TODAY:
        return ctx.clock.today()
    if policy == ResumePolicy.SUSPEND_DATE:
        return suspended_on
    if policy == ResumePolicy.SPECIFIC_DATE:
        day = required_date(resumption.specific_date, "resumeSpecificDate", "resumePolicy")
        return check_date(day, "resumeSpecificDate")
    count, period = _periods(resumption.periods, resumption.periods_type, "resumePeriods")
    return add_period(suspended_on, count, period)


def _suspend(subscription: Subscription, day: date, now: datetime) -> None:
    end = subscription.term_end_date
    if end is not None and day >= end:
        raise rule(f"Cannot suspend on {day.isoformat()}: the term ends on {end.isoformat()}.")
    for charge in all_segments(subscription):
        if charge.charge_type != ChargeType.OneTime:
            end_segment_by(charge, day, now)
    subscription.status = SubscriptionStatus.SUSPENDED
    subscription.suspended_date = day
    subscription.resumed_date = None


def _resume(subscription: Subscription, resume_on: date, extends_term: bool, now: datetime) -> None:
    suspended_on = subscription.suspended_date
    if suspended_on is None:  # status Suspended always has a date; guard the invariant
        raise rule(f"Subscription {subscription.subscription_number} has no suspend date.")
    if resume_on < suspended_on:
        raise invalid(
            f"Invalid resume date {resume_on.isoformat()}: the subscription is suspended from "
            f"{suspended_on.isoformat()}.",
            "resumeSpecificDate",
        )
    term_end_date = subscription.term_end_date
    if extends_term and term_end_date is not None:
        term_end_date = add_days(term_end_date, (resume_on - suspended_on).days)
        subscription.term_end_date = term_end_date
        subscription.subscription_end_date = term_end_date
    elif term_end_date is not None and resume_on >= term_end_date:
        raise rule(
            f"Cannot resume on {resume_on.isoformat()}: the term ends on "
            f"{term_end_date.isoformat()}."
        )
    for rate_plan in subscription.rate_plans:
        removed = rate_plan.removed_date
        if removed is not None and removed <= resume_on:
            continue
        until = removed if removed is not None else term_end_date
        for segments in segments_by_charge(rate_plan):
            _resume_charge(rate_plan, segments, suspended_on, resume_on, until, now)
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.resumed_date = resume_on


def _resume_charge(
    rate_plan: SubscriptionRatePlan,
    segments: Sequence[SubscriptionCharge],
    suspended_on: date,
    resume_on: date,
    until: date | None,
    now: datetime,
) -> None:
    """New segments repeating, from ``resume_on``, what the suspension cut off.

    The suspension left every segment it reached ending at the suspend date, or (if it
    began later) empty at its own start, so a cut segment's original span runs to the
    next cut segment's start, and the last one's to ``until``. Each part of those spans
    after ``resume_on`` becomes a new segment with the cut segment's terms, numbered after
    the existing ones so the highest number stays the latest in time.
    """
    if segments[0].charge_type == ChargeType.OneTime:
        return
    cut = [
        c for c in segments if c.effective_end_date is None or c.effective_end_date >= suspended_on
    ]
    number = segments[-1].segment
    created: list[SubscriptionCharge] = []
    for index, charge in enumerate(cut):
        span_end = cut[index + 1].effective_start_date if index + 1 < len(cut) else until
        start = max(resume_on, charge.effective_start_date)
        if span_end is not None and start >= span_end:
            continue
        number += 1
        created.append(successor(charge, start, span_end, now, segment=number))
    if created:
        for charge in segments:
            charge.is_last_segment = False
        for charge in created[:-1]:
            charge.is_last_segment = False
        rate_plan.charges.extend(created)


def suspend_subscription(ctx: ServiceContext, key: ObjectKey, suspension: Suspension) -> Changed:
    """Suspend from a date: recurring and usage charges stop there (one-time charges are
    not service over time and stay). A resumption may be given in the same call."""
    subscription = find_subscription(ctx, key, lock=True)
    require_status(subscription, (SubscriptionStatus.ACTIVE,), "suspended")
    day = within_subscription(
        subscription, _suspend_date(ctx, subscription, suspension), "suspendSpecificDate"
    )
    account = account_of(ctx, subscription)
    before = metrics(subscription, account.currency)
    now = ctx.clock.now()
    _suspend(subscription, day, now)
    if suspension.resume is not None:
        resume_on = _resume_date(ctx, day, suspension.resume)
        _resume(subscription, resume_on, suspension.resume.extends_term, now)
        if resume_on > ctx.clock.today():
            # Scheduled: suspended until then, and resume_subscription refuses a second one.
            subscription.status = SubscriptionStatus.SUSPENDED
    touch(subscription, now)
    ctx.session.flush()
    events.emit(ctx, EventType.SUBSCRIPTION_SUSPENDED, subscription)
    return Changed(subscription, delta(before, metrics(subscription, account.currency)))


def resume_subscription(ctx: ServiceContext, key: ObjectKey, resumption: Resumption) -> Changed:
    """Resume from a date: each charge gets a new segment from then (to the term end,
    moved by the days suspended when ``extends_term``)."""
    subscription = find_subscription(ctx, key, lock=True)
    require_status(subscription, (SubscriptionStatus.SUSPENDED,), "resumed")
    if subscription.resumed_date is not None:
        raise rule(
            f"Subscription {subscription.subscription_number} already resumes on "
            f"{subscription.resumed_date.isoformat()}."
        )
    if subscription.suspended_date is None:
        raise rule(f"Subscription {subscription.subscription_number} has no suspend date.")
    resume_on = _resume_date(ctx, subscription.suspended_date, resumption)
    check_date(resume_on, "resumeSpecificDate")
    account = account_of(ctx, subscription)
    before = metrics(subscription, account.currency)
    now = ctx.clock.now()
    _resume(subscription, resume_on, resumption.extends_term, now)
    touch(subscription, now)
    ctx.session.flush()
    events.emit(ctx, EventType.SUBSCRIPTION_RESUMED, subscription)
    return Changed(subscription, delta(before, metrics(subscription, account.currency)))


def _renew(subscription: Subscription, now: datetime) -> None:
    old_end = subscription.term_end_date
    if subscription.term_type != TermType.TERMED or old_end is None:
        raise rule("Only a TERMED subscription can be renewed.")
    if subscription.renewal_setting == RenewalSetting.RENEW_TO_EVERGREEN:
        subscription.term_type = TermType.EVERGREEN
        subscription.term_start_date = old_end
        subscription.term_end_date = None
        subscription.subscription_end_date = None
        subscription.current_term = None
        move_term_end(subscription, old_end, None, now)
    else:
        if not subscription.renewal_term:
            raise rule(
                f"Subscription {subscription.subscription_number} has no renewal term: "
                "set renewalTerm to renew it."
            )
        new_end = term_end(
            old_end, subscription.renewal_term, subscription.renewal_term_period_type
        )
        subscription.term_start_date = old_end
        subscription.term_end_date = new_end
        subscription.subscription_end_date = new_end
        subscription.current_term = subscription.renewal_term
        subscription.current_term_period_type = subscription.renewal_term_period_type
        move_term_end(subscription, old_end, new_end, now)
    touch(subscription, now)


def renew_subscription(ctx: ServiceContext, key: ObjectKey) -> Changed:
    """Start the next term at the current term's end, with the renewal term."""
    subscription = find_subscription(ctx, key, lock=True)
    require_status(subscription, (SubscriptionStatus.ACTIVE,), "renewed")
    account = account_of(ctx, subscription)
    before = metrics(subscription, account.currency)
    _renew(subscription, ctx.clock.now())
    ctx.session.flush()
    events.emit(ctx, EventType.SUBSCRIPTION_RENEWED, subscription)
    return Changed(subscription, delta(before, metrics(subscription, account.currency)))


def renew_due_subscriptions(
    ctx: ServiceContext, account_ids: Sequence[int] | None, target_date: date
) -> list[Subscription]:
    """Renew every Active auto-renew TERMED subscription of these accounts (None: all of
    the tenant's) whose term ends on or before ``target_date``, as often as needed for
    the term to cover it. For bill runs with ``autoRenewal``: call before rating, in the
    same unit of work. Subscriptions without a renewal term are left to expire."""
    renewed: list[Subscription] = []
    now = ctx.clock.now()
    for subscription in repository.due_for_renewal(
        ctx.session, ctx.tenant_id, account_ids, target_date
    ):
        count = 0
        while (
            subscription.term_type == TermType.TERMED
            and subscription.term_end_date is not None
            and subscription.term_end_date <= target_date
            and (
                subscription.renewal_setting == RenewalSetting.RENEW_TO_EVERGREEN
                or subscription.renewal_term
            )
        ):
            _renew(subscription, now)
            count += 1
        if count:
            renewed.append(subscription)
    ctx.session.flush()
    for subscription in renewed:
        events.emit(ctx, EventType.SUBSCRIPTION_RENEWED, subscription, automatic=True)
    return renewed
