"""Subscriptions: the rules for creating, amending and ending them.

Every change is expressed in charge segments and dates only (see
:mod:`billcycle.subscriptions.charges`): a price change, suspension or resumption ends a
segment and starts the next one; a cancellation or removal ends segments early. What
that means in money (including credits for service already billed) is left to rating.

Functions take a :class:`ServiceContext`, flush and never commit; a subscription being
changed is read under a row lock so concurrent amendments apply one after the other.
Any error leaves the unit of work to roll back, so a refused request changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from billcycle.accounts import repository as accounts
from billcycle.accounts.models import Account
from billcycle.catalog import repository as catalog
from billcycle.catalog.models import ProductRatePlan
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, MissingField, NotFound, RuleViolation
from billcycle.money import round_money
from billcycle.rating import ChargeType
from billcycle.subscriptions import charges as seg
from billcycle.subscriptions import repository
from billcycle.subscriptions.inputs import (
    Cancellation,
    ChargeOverride,
    ChargeUpdate,
    NewSubscription,
    ObjectKey,
    RatePlanAddition,
    RatePlanInput,
    RatePlanRemoval,
    RatePlanUpdate,
    Resumption,
    SubscriptionChanges,
    Suspension,
)
from billcycle.subscriptions.models import Subscription, SubscriptionCharge, SubscriptionRatePlan
from billcycle.subscriptions.terms import (
    add_days,
    add_period,
    check_date,
    normalize_period_type,
    term_end,
)
from billcycle.tenancy.numbers import next_number

SUBSCRIPTION = "subscription"

ACTIVE, CANCELLED, SUSPENDED, EXPIRED = "Active", "Cancelled", "Suspended", "Expired"
TERMED, EVERGREEN = "TERMED", "EVERGREEN"
TERM_TYPES = (TERMED, EVERGREEN)
RENEW_WITH_SPECIFIC_TERM, RENEW_TO_EVERGREEN = "RENEW_WITH_SPECIFIC_TERM", "RENEW_TO_EVERGREEN"
RENEWAL_SETTINGS = (RENEW_WITH_SPECIFIC_TERM, RENEW_TO_EVERGREEN)

END_OF_CURRENT_TERM = "EndOfCurrentTerm"
END_OF_LAST_INVOICE_PERIOD = "EndOfLastInvoicePeriod"
SPECIFIC_DATE = "SpecificDate"
TODAY = "Today"
FIXED_PERIODS_FROM_TODAY = "FixedPeriodsFromToday"
FIXED_PERIODS_FROM_SUSPEND_DATE = "FixedPeriodsFromSuspendDate"
SUSPEND_DATE = "SuspendDate"
CANCELLATION_POLICIES = (END_OF_CURRENT_TERM, END_OF_LAST_INVOICE_PERIOD, SPECIFIC_DATE)
SUSPEND_POLICIES = (TODAY, END_OF_LAST_INVOICE_PERIOD, SPECIFIC_DATE, FIXED_PERIODS_FROM_TODAY)
RESUME_POLICIES = (TODAY, FIXED_PERIODS_FROM_SUSPEND_DATE, SPECIFIC_DATE, SUSPEND_DATE)

LAST_SEGMENT = "last-segment"
CURRENT_SEGMENT = "current-segment"
ALL_SEGMENTS = "all-segments"
SPECIFIC_SEGMENT = "specific-segment"
CHARGE_DETAILS = (LAST_SEGMENT, CURRENT_SEGMENT, ALL_SEGMENTS, SPECIFIC_SEGMENT)

MAX_TERM = 100_000
MAX_PERIODS = 10_000
MAX_NUMBER_LENGTH = 100
MAX_NOTES = 1000
MAX_DESCRIPTION = 500
_NUMBER_ATTEMPTS = 1000


# -- small helpers --------------------------------------------------------------------------


def _invalid(message: str, field: str | None = None) -> InvalidValue:
    return InvalidValue(message, resource=SUBSCRIPTION, field=field)


def _rule(message: str) -> RuleViolation:
    return RuleViolation(message, resource=SUBSCRIPTION)


def _text(value: str | None, field: str, max_length: int) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        raise _invalid(f"Invalid value for {field}: it contains a NUL character.", field)
    if len(value) > max_length:
        raise _invalid(f"Invalid value for {field}: at most {max_length} characters.", field)
    return value


def _key_text(key: ObjectKey) -> str | None:
    """The key as a number to look up, or None when it cannot be one."""
    text = key.text.strip()
    return text if text and "\x00" not in text and len(text) <= 255 else None


def _count(value: int, field: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise _invalid(f"Invalid value for {field}: {value}. Use {low} to {high}.", field)
    return value


def _optional_date(value: date | None, field: str) -> date | None:
    return check_date(value, field) if value is not None else None


def _segments_by_charge(rate_plan: SubscriptionRatePlan) -> list[list[SubscriptionCharge]]:
    """A rate plan's charges, each as its segments in order."""
    grouped: dict[str, list[SubscriptionCharge]] = {}
    for charge in rate_plan.charges:
        grouped.setdefault(charge.charge_number, []).append(charge)
    return [sorted(group, key=lambda c: c.segment) for group in grouped.values()]


def _all_segments(subscription: Subscription) -> Iterable[SubscriptionCharge]:
    for rate_plan in subscription.rate_plans:
        yield from rate_plan.charges


def _touch(subscription: Subscription, now: datetime) -> None:
    subscription.version += 1
    subscription.updated_at = now


# -- lookups ----------------------------------------------------------------------------------


def find_subscription(ctx: ServiceContext, key: ObjectKey, *, lock: bool = False) -> Subscription:
    """The subscription by Zuora key (id or number) in this tenant, or NotFound."""
    text = _key_text(key)
    found = None
    if text is not None or key.id is not None:
        found = repository.find_subscription_by_key(
            ctx.session, ctx.tenant_id, subscription_id=key.id, number=text or "", lock=lock
        )
    if found is None:
        raise NotFound(f"Subscription {key.text} does not exist.", resource=SUBSCRIPTION)
    return found


def _find_account(ctx: ServiceContext, key: ObjectKey) -> Account | None:
    text = _key_text(key)
    if text is None and key.id is None:
        return None
    return accounts.find_account_by_key(
        ctx.session, ctx.tenant_id, account_id=key.id, number=text or ""
    )


def account_of(ctx: ServiceContext, subscription: Subscription) -> Account:
    account = accounts.get_account(ctx.session, ctx.tenant_id, subscription.account_id)
    if account is None:  # the foreign key makes this unreachable
        raise NotFound("The subscription's account does not exist.", resource=SUBSCRIPTION)
    return account


def _catalog_plan(ctx: ServiceContext, key: ObjectKey, field: str) -> ProductRatePlan:
    plan = catalog.get_rate_plan(ctx.session, ctx.tenant_id, key.id) if key.id is not None else None
    if plan is None:
        raise _invalid(f"Invalid value for {field}: product rate plan {key.text} not found.", field)
    return plan


def _overrides_by_charge(
    plan: ProductRatePlan, overrides: Sequence[ChargeOverride]
) -> dict[int, ChargeOverride]:
    known = {charge.id for charge in plan.charges}
    found: dict[int, ChargeOverride] = {}
    for override in overrides:
        charge_id = override.product_rate_plan_charge.id
        if charge_id is None or charge_id not in known:
            raise _invalid(
                f"Invalid value for productRatePlanChargeId: "
                f"{override.product_rate_plan_charge.text} is not a charge of product rate "
                f"plan '{plan.name}'.",
                "productRatePlanChargeId",
            )
        if charge_id in found:
            raise _invalid(
                f"Invalid value for chargeOverrides: charge "
                f"{override.product_rate_plan_charge.text} is overridden twice.",
                "chargeOverrides",
            )
        found[charge_id] = override
    return found


def _rate_plan_of(subscription: Subscription, key: ObjectKey) -> SubscriptionRatePlan:
    for rate_plan in subscription.rate_plans:
        if key.id is not None and rate_plan.id == key.id:
            return rate_plan
    raise _invalid(
        f"Invalid value for ratePlanId: {key.text} is not a rate plan of subscription "
        f"{subscription.subscription_number}.",
        "ratePlanId",
    )


# -- metrics ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Metrics:
    """Contracted MRR and total contract value (None when open-ended, as Zuora shows)."""

    mrr: Decimal
    tcv: Decimal | None


@dataclass(frozen=True, slots=True)
class Delta:
    mrr: Decimal
    tcv: Decimal | None


def _counts_in_mrr(subscription: Subscription, rate_plan: SubscriptionRatePlan) -> bool:
    return subscription.status == ACTIVE and rate_plan.removed_date is None


def _live_mrr(charge: SubscriptionCharge) -> Decimal:
    end = charge.effective_end_date
    if end is not None and end <= charge.effective_start_date:
        return Decimal(0)
    return seg.segment_mrr(charge)


def metrics(subscription: Subscription, currency: str) -> Metrics:
    mrr = Decimal(0)
    tcv: Decimal | None = Decimal(0)
    for rate_plan in subscription.rate_plans:
        for segments in _segments_by_charge(rate_plan):
            if _counts_in_mrr(subscription, rate_plan):
                mrr += _live_mrr(segments[-1])
            for segment in segments:
                value = seg.segment_tcv(segment)
                tcv = None if value is None or tcv is None else tcv + value
    return Metrics(
        mrr=round_money(mrr, currency),
        tcv=round_money(tcv, currency) if tcv is not None else None,
    )


def _delta(before: Metrics, after: Metrics) -> Delta:
    tcv = after.tcv - before.tcv if after.tcv is not None and before.tcv is not None else None
    return Delta(mrr=after.mrr - before.mrr, tcv=tcv)


# -- reading ----------------------------------------------------------------------------------


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
    tcv = seg.segment_tcv(charge)
    return SegmentView(
        segment=charge,
        mrr=round_money(_live_mrr(charge), charge.currency),
        tcv=round_money(tcv, charge.currency) if tcv is not None else None,
        bill_cycle_day=charge.bill_cycle_day or account.bill_cycle_day,
    )


def _pick(segments: Sequence[SubscriptionCharge], detail: str, day: date) -> int | None:
    if detail in (LAST_SEGMENT, ALL_SEGMENTS):
        return len(segments) - 1
    for index, charge in enumerate(segments):
        start, end = charge.effective_start_date, charge.effective_end_date
        if detail == SPECIFIC_SEGMENT and day == start:
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
    mode = seg.match_name(detail, CHARGE_DETAILS, "charge-detail") if detail else LAST_SEGMENT
    if mode == SPECIFIC_SEGMENT and as_of is None:
        raise MissingField(
            "as-of-date is required when charge-detail is specific-segment.",
            resource=SUBSCRIPTION,
            field="as-of-date",
        )
    day = as_of if mode == SPECIFIC_SEGMENT and as_of is not None else ctx.clock.today()
    owner = account or account_of(ctx, subscription)
    plans: list[RatePlanView] = []
    for rate_plan in subscription.rate_plans:
        charge_views: list[ChargeView] = []
        plan_mrr = Decimal(0)
        for segments in _segments_by_charge(rate_plan):
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
    account = _find_account(ctx, account_key)
    if account is None:
        raise NotFound(f"Account {account_key.text} does not exist.", resource="account")
    page = repository.subscriptions_of_account(
        ctx.session, ctx.tenant_id, account.id, offset=offset, limit=limit
    )
    total = repository.count_subscriptions_of_account(ctx.session, ctx.tenant_id, account.id)
    return account, page, total


# -- creating ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TermSettings:
    term_type: str
    initial_term: int | None
    initial_term_period_type: str
    renewal_term: int
    renewal_term_period_type: str
    auto_renew: bool
    renewal_setting: str


def _term_settings(new: NewSubscription) -> TermSettings:
    term_type = seg.match_name(new.term_type, TERM_TYPES, "termType")
    initial = new.initial_term
    if term_type == TERMED:
        if initial is None:
            raise MissingField(
                "initialTerm is required for a TERMED subscription.",
                resource=SUBSCRIPTION,
                field="initialTerm",
            )
        _count(initial, "initialTerm", 1, MAX_TERM)
    else:
        initial = None  # Zuora ignores the initial term of an evergreen subscription
    renewal = _count(new.renewal_term or 0, "renewalTerm", 0, MAX_TERM)
    setting = (
        seg.match_name(new.renewal_setting, RENEWAL_SETTINGS, "renewalSetting")
        if new.renewal_setting
        else RENEW_WITH_SPECIFIC_TERM
    )
    return TermSettings(
        term_type=term_type,
        initial_term=initial,
        initial_term_period_type=normalize_period_type(
            new.initial_term_period_type, "initialTermPeriodType"
        ),
        renewal_term=renewal,
        renewal_term_period_type=normalize_period_type(
            new.renewal_term_period_type, "renewalTermPeriodType"
        ),
        auto_renew=bool(new.auto_renew),
        renewal_setting=setting,
    )


def _subscription_number(ctx: ServiceContext, wanted: str | None) -> str:
    if wanted is not None:
        number = (_text(wanted.strip(), "subscriptionNumber", MAX_NUMBER_LENGTH) or "").strip()
        if not number:
            raise _invalid("Invalid value for subscriptionNumber: it is empty.")
        if repository.subscription_number_taken(ctx.session, ctx.tenant_id, number):
            raise _rule(f"The subscription number {number} is already in use.")
        return number
    # A client may have chosen a number that looks generated: skip past it.
    for _ in range(_NUMBER_ATTEMPTS):
        number = next_number(ctx.session, ctx.tenant_id, "subscription")
        if not repository.subscription_number_taken(ctx.session, ctx.tenant_id, number):
            return number
    raise _rule("Could not allocate a subscription number.")


def _subscribe_plan(
    ctx: ServiceContext,
    subscription: Subscription,
    plan: ProductRatePlan,
    overrides: dict[int, ChargeOverride],
    *,
    dates: seg.TriggerDates,
    currency: str,
    now: datetime,
) -> SubscriptionRatePlan:
    rate_plan = SubscriptionRatePlan(
        tenant_id=ctx.tenant_id,
        subscription_id=subscription.id,
        product_id=plan.product_id,
        product_rate_plan_id=plan.id,
        name=plan.name,
        product_name=plan.product.name,
        product_sku=plan.product.sku,
        created_at=now,
        updated_at=now,
        charges=[],
    )
    subscription.rate_plans.append(rate_plan)
    ctx.session.flush()
    frame = seg.ChargeFrame(
        tenant_id=ctx.tenant_id,
        subscription_id=subscription.id,
        rate_plan_id=rate_plan.id,
        account_id=subscription.account_id,
        currency=currency,
        subscription_start=subscription.subscription_start_date,
        term_start=subscription.term_start_date,
        term_end=subscription.term_end_date,
        now=now,
    )
    for catalog_charge in plan.charges:
        rate_plan.charges.append(
            seg.build_charge(
                catalog_charge,
                overrides.get(catalog_charge.id),
                frame=frame,
                dates=dates,
                charge_number=next_number(ctx.session, ctx.tenant_id, "charge"),
            )
        )
    return rate_plan


def _resolve_plans(
    ctx: ServiceContext, plans: Sequence[RatePlanInput], field: str
) -> list[tuple[ProductRatePlan, dict[int, ChargeOverride]]]:
    resolved = []
    for item in plans:
        plan = _catalog_plan(ctx, item.product_rate_plan, field)
        resolved.append((plan, _overrides_by_charge(plan, item.charge_overrides)))
    return resolved


def _subscribable_account(ctx: ServiceContext, key: ObjectKey) -> Account:
    account = _find_account(ctx, key)
    if account is None:
        raise _invalid(f"Invalid value for accountKey: account {key.text} not found.", "accountKey")
    if account.status == "Canceled":
        raise _rule(f"Account {account.account_number} is canceled: it cannot subscribe.")
    return account


def create_subscription(ctx: ServiceContext, new: NewSubscription) -> Subscription:
    """A new Active subscription with segment 1 of every charge of its rate plans."""
    account = _subscribable_account(ctx, new.account)
    contract = check_date(new.contract_effective_date, "contractEffectiveDate")
    dates = seg.TriggerDates(
        contract_effective=contract,
        service_activation=_optional_date(new.service_activation_date, "serviceActivationDate"),
        customer_acceptance=_optional_date(new.customer_acceptance_date, "customerAcceptanceDate"),
    )
    term_start = check_date(new.term_start_date or contract, "termStartDate")
    settings = _term_settings(new)
    end = (
        term_end(term_start, settings.initial_term, settings.initial_term_period_type)
        if settings.initial_term is not None
        else None
    )
    if not new.rate_plans:
        raise MissingField(
            "subscribeToRatePlans needs at least one rate plan.",
            resource=SUBSCRIPTION,
            field="subscribeToRatePlans",
        )
    notes = _text(new.notes, "notes", MAX_NOTES)
    plans = _resolve_plans(ctx, new.rate_plans, "productRatePlanId")
    number = _subscription_number(ctx, new.subscription_number)
    now = ctx.clock.now()
    subscription = Subscription(
        tenant_id=ctx.tenant_id,
        account_id=account.id,
        subscription_number=number,
        status=ACTIVE,
        term_type=settings.term_type,
        initial_term=settings.initial_term,
        initial_term_period_type=settings.initial_term_period_type,
        renewal_term=settings.renewal_term,
        renewal_term_period_type=settings.renewal_term_period_type,
        current_term=settings.initial_term,
        current_term_period_type=settings.initial_term_period_type,
        auto_renew=settings.auto_renew,
        renewal_setting=settings.renewal_setting,
        contract_effective_date=contract,
        service_activation_date=dates.service_activation,
        customer_acceptance_date=dates.customer_acceptance,
        subscription_start_date=term_start,
        term_start_date=term_start,
        term_end_date=end,
        subscription_end_date=end,
        invoice_separately=bool(new.invoice_separately),
        notes=notes,
        version=1,
        created_at=now,
        updated_at=now,
        rate_plans=[],
    )
    if not repository.add_subscription(ctx.session, subscription):
        raise _rule(f"The subscription number {number} is already in use.")
    for plan, overrides in plans:
        _subscribe_plan(
            ctx, subscription, plan, overrides, dates=dates, currency=account.currency, now=now
        )
    ctx.session.flush()
    return subscription


# -- amending ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Changed:
    """A changed subscription and what the change did to its metrics."""

    subscription: Subscription
    delta: Delta


def _require_status(subscription: Subscription, allowed: Sequence[str], action: str) -> None:
    if subscription.status not in allowed:
        raise _rule(
            f"Subscription {subscription.subscription_number} is {subscription.status}: it "
            f"cannot be {action}."
        )


def _within_subscription(subscription: Subscription, day: date, field: str) -> date:
    check_date(day, field)
    if day < subscription.subscription_start_date:
        raise _invalid(
            f"Invalid value for {field}: {day.isoformat()} is before the subscription starts "
            f"({subscription.subscription_start_date.isoformat()}).",
            field,
        )
    end = subscription.term_end_date
    if end is not None and day > end:
        raise _invalid(
            f"Invalid value for {field}: {day.isoformat()} is after the current term ends "
            f"({end.isoformat()}).",
            field,
        )
    return day


def _move_term_end(
    subscription: Subscription, old_end: date | None, new_end: date | None, now: datetime
) -> None:
    """Charges that ran to the old term end run to the new one; nothing runs past it."""
    for rate_plan in subscription.rate_plans:
        for charge in rate_plan.charges:
            follows_term = (
                charge.is_last_segment
                and rate_plan.removed_date is None
                and charge.charge_type != ChargeType.OneTime.value
                and charge.effective_end_date == old_end
            )
            if follows_term:
                target = new_end if new_end is None else max(charge.effective_start_date, new_end)
                if target != charge.effective_end_date:
                    charge.effective_end_date = target
                    charge.updated_at = now
            elif new_end is not None:
                seg.end_segment_by(charge, new_end, now)


def _set_term(
    subscription: Subscription, term_type: str, current: int | None, period: str, now: datetime
) -> None:
    old_end = subscription.term_end_date
    if term_type == EVERGREEN:
        new_end = None
        current = None
    else:
        if current is None:
            raise MissingField(
                "currentTerm is required to make the subscription TERMED.",
                resource=SUBSCRIPTION,
                field="currentTerm",
            )
        new_end = term_end(subscription.term_start_date, current, period)
    subscription.term_type = term_type
    subscription.current_term = current
    subscription.current_term_period_type = period
    subscription.term_end_date = new_end
    subscription.subscription_end_date = new_end
    _move_term_end(subscription, old_end, new_end, now)


def _apply_term_changes(subscription: Subscription, changes: SubscriptionChanges) -> bool:
    changed = False
    if changes.auto_renew is not None:
        subscription.auto_renew = changes.auto_renew
        changed = True
    if changes.renewal_term is not None:
        subscription.renewal_term = _count(changes.renewal_term, "renewalTerm", 0, MAX_TERM)
        changed = True
    if changes.renewal_term_period_type is not None:
        subscription.renewal_term_period_type = normalize_period_type(
            changes.renewal_term_period_type, "renewalTermPeriodType"
        )
        changed = True
    if changes.renewal_setting is not None:
        subscription.renewal_setting = seg.match_name(
            changes.renewal_setting, RENEWAL_SETTINGS, "renewalSetting"
        )
        changed = True
    if changes.invoice_separately is not None:
        subscription.invoice_separately = changes.invoice_separately
        changed = True
    if changes.notes is not None:
        subscription.notes = _text(changes.notes, "notes", MAX_NOTES)
        changed = True
    return changed


def _apply_term_length(
    subscription: Subscription, changes: SubscriptionChanges, now: datetime
) -> bool:
    if (
        changes.term_type is None
        and changes.current_term is None
        and (changes.current_term_period_type is None)
    ):
        return False
    term_type = (
        seg.match_name(changes.term_type, TERM_TYPES, "termType")
        if changes.term_type
        else subscription.term_type
    )
    current = changes.current_term
    if current is not None:
        _count(current, "currentTerm", 1, MAX_TERM)
    elif term_type == TERMED and subscription.term_type == TERMED:
        current = subscription.current_term
    period = normalize_period_type(
        changes.current_term_period_type,
        "currentTermPeriodType",
        default=subscription.current_term_period_type,
    )
    _set_term(subscription, term_type, current, period, now)
    return True


def _remove_plan(subscription: Subscription, removal: RatePlanRemoval, now: datetime) -> None:
    rate_plan = _rate_plan_of(subscription, removal.rate_plan)
    if rate_plan.removed_date is not None:
        raise _rule(f"Rate plan {removal.rate_plan.text} has already been removed.")
    day = _within_subscription(
        subscription, removal.contract_effective_date, "contractEffectiveDate"
    )
    rate_plan.removed_date = day
    rate_plan.updated_at = now
    for charge in rate_plan.charges:
        seg.end_segment_by(charge, day, now)


def _last_segment_of(
    rate_plan: SubscriptionRatePlan, key: ObjectKey
) -> tuple[SubscriptionCharge, list[SubscriptionCharge]]:
    for segments in _segments_by_charge(rate_plan):
        if key.id is not None and any(charge.id == key.id for charge in segments):
            return segments[-1], segments
    raise _invalid(
        f"Invalid value for ratePlanChargeId: {key.text} is not a charge of rate plan "
        f"{rate_plan.id:032x}.",
        "ratePlanChargeId",
    )


def _new_terms(
    charge: SubscriptionCharge, update: ChargeUpdate
) -> tuple[Decimal | None, Decimal | None, tuple[seg.TierTerms, ...] | None]:
    price = seg.exact_number(update.price, "price") if update.price is not None else None
    quantity = (
        seg.exact_number(update.quantity, "quantity", negative=False)
        if update.quantity is not None
        else None
    )
    tiers = seg.tiers_from_input(update.tiers) if update.tiers is not None else None
    if price is None and quantity is None and tiers is None and update.description is None:
        raise _invalid(
            f"Nothing to update for charge {charge.charge_number}: give a price, quantity or "
            "tiers.",
            "chargeUpdateDetails",
        )
    if seg.is_tiered(charge):
        if price is not None:
            raise _invalid(
                f"Invalid value for price: charge {charge.charge_number} uses "
                f"{charge.charge_model}; update its tiers instead.",
                "price",
            )
    elif tiers is not None:
        if len(tiers) != 1:
            raise _invalid(
                f"Invalid value for tiers: charge {charge.charge_number} has a single price.",
                "tiers",
            )
        price = price if price is not None else tiers[0].price
        tiers = None
    return price, quantity, tiers


def _change_date(update: RatePlanUpdate, change: ChargeUpdate) -> date:
    if change.trigger_event:
        event = seg.trigger_event(change.trigger_event)
        return seg.trigger_start(
            event,
            seg.TriggerDates(
                update.contract_effective_date,
                update.service_activation_date,
                update.customer_acceptance_date,
            ),
            change.trigger_date,
        )
    return update.specific_update_date or update.contract_effective_date


def _update_charge(
    subscription: Subscription,
    rate_plan: SubscriptionRatePlan,
    update: RatePlanUpdate,
    change: ChargeUpdate,
    now: datetime,
) -> None:
    last, _ = _last_segment_of(rate_plan, change.charge)
    price, quantity, tiers = _new_terms(last, change)
    description = _text(change.description, "description", MAX_DESCRIPTION)
    on = _within_subscription(subscription, _change_date(update, change), "contractEffectiveDate")
    if last.charge_type == ChargeType.OneTime.value:
        if last.billed_through is not None:
            raise _rule(f"One-time charge {last.charge_number} has been billed: it cannot change.")
        target = last
    else:
        if on < last.effective_start_date:
            raise _rule(
                f"Charge {last.charge_number} cannot change on {on.isoformat()}: its current "
                f"segment starts on {last.effective_start_date.isoformat()}."
            )
        end = last.effective_end_date
        if end is not None and on >= end:
            raise _rule(
                f"Charge {last.charge_number} cannot change on {on.isoformat()}: it ends on "
                f"{end.isoformat()}."
            )
        if on == last.effective_start_date and last.billed_through is None:
            target = last  # nothing billed under the old terms: no need for a new segment
        else:
            target = seg.start_next_segment(last, on, now)
            rate_plan.charges.append(target)
    if price is not None:
        target.price = price
    if quantity is not None:
        target.quantity = quantity
    if tiers is not None:
        seg.set_tiers(target, tiers)
    if description is not None:
        target.description = description
    target.updated_at = now
    seg.check_rateable(target)


def _update_plan(subscription: Subscription, update: RatePlanUpdate, now: datetime) -> None:
    rate_plan = _rate_plan_of(subscription, update.rate_plan)
    if rate_plan.removed_date is not None:
        raise _rule(f"Rate plan {update.rate_plan.text} has been removed: it cannot change.")
    if not update.charge_updates:
        raise MissingField(
            "chargeUpdateDetails needs at least one charge to update.",
            resource=SUBSCRIPTION,
            field="chargeUpdateDetails",
        )
    for change in update.charge_updates:
        _update_charge(subscription, rate_plan, update, change, now)


def _add_plan(
    ctx: ServiceContext,
    subscription: Subscription,
    addition: RatePlanAddition,
    currency: str,
    now: datetime,
) -> None:
    contract = _within_subscription(
        subscription, addition.contract_effective_date, "contractEffectiveDate"
    )
    dates = seg.TriggerDates(
        contract_effective=contract,
        service_activation=_optional_date(
            addition.service_activation_date, "serviceActivationDate"
        ),
        customer_acceptance=_optional_date(
            addition.customer_acceptance_date, "customerAcceptanceDate"
        ),
    )
    ((plan, overrides),) = _resolve_plans(ctx, [addition.rate_plan], "productRatePlanId")
    _subscribe_plan(ctx, subscription, plan, overrides, dates=dates, currency=currency, now=now)


def update_subscription(
    ctx: ServiceContext, key: ObjectKey, changes: SubscriptionChanges
) -> Changed:
    """Apply an amendment: term settings first (added charges follow the new term end),
    then removals, updates and additions, each dated by its own effective date."""
    subscription = find_subscription(ctx, key, lock=True)
    _require_status(subscription, (ACTIVE,), "amended")
    account = account_of(ctx, subscription)
    before = metrics(subscription, account.currency)
    now = ctx.clock.now()
    changed = _apply_term_changes(subscription, changes)
    changed = _apply_term_length(subscription, changes, now) or changed
    for removal in changes.remove:
        _remove_plan(subscription, removal, now)
    for update in changes.update:
        _update_plan(subscription, update, now)
    for addition in changes.add:
        _add_plan(ctx, subscription, addition, account.currency, now)
    if changed or changes.remove or changes.update or changes.add:
        _touch(subscription, now)
    ctx.session.flush()
    return Changed(subscription, _delta(before, metrics(subscription, account.currency)))


# -- cancelling, suspending, resuming, renewing -----------------------------------------------


def _end_of_last_invoice_period(subscription: Subscription) -> date:
    """The latest billed-through date of any charge, or the start if nothing was billed."""
    billed = [c.billed_through for c in _all_segments(subscription) if c.billed_through]
    return max(billed) if billed else subscription.subscription_start_date


def _cancellation_date(subscription: Subscription, cancellation: Cancellation) -> date:
    policy = seg.match_name(cancellation.policy, CANCELLATION_POLICIES, "cancellationPolicy")
    if policy == END_OF_CURRENT_TERM:
        if subscription.term_end_date is None:
            raise _rule("An EVERGREEN subscription has no current term end to cancel on.")
        return subscription.term_end_date
    if policy == SPECIFIC_DATE:
        if cancellation.effective_date is None:
            raise MissingField(
                "cancellationEffectiveDate is required when cancellationPolicy is SpecificDate.",
                resource=SUBSCRIPTION,
                field="cancellationEffectiveDate",
            )
        return cancellation.effective_date
    return _end_of_last_invoice_period(subscription)


def cancel_subscription(ctx: ServiceContext, key: ObjectKey, cancellation: Cancellation) -> Changed:
    """Cancel from a date: every charge segment ends by then (already-billed service past
    it is credited by rating)."""
    subscription = find_subscription(ctx, key, lock=True)
    _require_status(subscription, (ACTIVE,), "cancelled")
    day = _within_subscription(
        subscription,
        _cancellation_date(subscription, cancellation),
        "cancellationEffectiveDate",
    )
    account = account_of(ctx, subscription)
    before = metrics(subscription, account.currency)
    now = ctx.clock.now()
    for charge in _all_segments(subscription):
        seg.end_segment_by(charge, day, now)
    subscription.status = CANCELLED
    subscription.cancelled_date = day
    subscription.subscription_end_date = day
    _touch(subscription, now)
    ctx.session.flush()
    return Changed(subscription, _delta(before, metrics(subscription, account.currency)))


def _periods(count: int | None, period_type: str | None, field: str) -> tuple[int, str]:
    if count is None:
        raise MissingField(
            f"{field} is required by this policy.", resource=SUBSCRIPTION, field=field
        )
    _count(count, field, 1, MAX_PERIODS)
    if not period_type:
        raise MissingField(
            f"{field}Type is required by this policy.", resource=SUBSCRIPTION, field=f"{field}Type"
        )
    return count, normalize_period_type(period_type, f"{field}Type")


def _suspend_date(ctx: ServiceContext, subscription: Subscription, suspension: Suspension) -> date:
    policy = seg.match_name(suspension.policy, SUSPEND_POLICIES, "suspendPolicy")
    today = ctx.clock.today()
    if policy == TODAY:
        return today
    if policy == SPECIFIC_DATE:
        if suspension.specific_date is None:
            raise MissingField(
                "suspendSpecificDate is required when suspendPolicy is SpecificDate.",
                resource=SUBSCRIPTION,
                field="suspendSpecificDate",
            )
        return check_date(suspension.specific_date, "suspendSpecificDate")
    if policy == FIXED_PERIODS_FROM_TODAY:
        count, period = _periods(suspension.periods, suspension.periods_type, "suspendPeriods")
        return add_period(today, count, period)
    return _end_of_last_invoice_period(subscription)


def _resume_date(ctx: ServiceContext, suspended_on: date, resumption: Resumption) -> date:
    if not resumption.policy:
        raise MissingField(
            "resumePolicy is required to resume.", resource=SUBSCRIPTION, field="resumePolicy"
        )
    policy = seg.match_name(resumption.policy, RESUME_POLICIES, "resumePolicy")
    if policy == TODAY:
        return ctx.clock.today()
    if policy == SUSPEND_DATE:
        return suspended_on
    if policy == SPECIFIC_DATE:
        if resumption.specific_date is None:
            raise MissingField(
                "resumeSpecificDate is required when resumePolicy is SpecificDate.",
                resource=SUBSCRIPTION,
                field="resumeSpecificDate",
            )
        return check_date(resumption.specific_date, "resumeSpecificDate")
    count, period = _periods(resumption.periods, resumption.periods_type, "resumePeriods")
    return add_period(suspended_on, count, period)


def _suspend(subscription: Subscription, day: date, now: datetime) -> None:
    end = subscription.term_end_date
    if end is not None and day >= end:
        raise _rule(f"Cannot suspend on {day.isoformat()}: the term ends on {end.isoformat()}.")
    for charge in _all_segments(subscription):
        if charge.charge_type != ChargeType.OneTime.value:
            seg.end_segment_by(charge, day, now)
    subscription.status = SUSPENDED
    subscription.suspended_date = day
    subscription.resumed_date = None


def _resume(subscription: Subscription, resume_on: date, extends_term: bool, now: datetime) -> None:
    suspended_on = subscription.suspended_date
    if suspended_on is None:  # status Suspended always has a date; guard the invariant
        raise _rule(f"Subscription {subscription.subscription_number} has no suspend date.")
    if resume_on < suspended_on:
        raise _invalid(
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
        raise _rule(
            f"Cannot resume on {resume_on.isoformat()}: the term ends on "
            f"{term_end_date.isoformat()}."
        )
    for rate_plan in subscription.rate_plans:
        removed = rate_plan.removed_date
        if removed is not None and removed <= resume_on:
            continue
        until = removed if removed is not None else term_end_date
        for segments in _segments_by_charge(rate_plan):
            _resume_charge(rate_plan, segments, suspended_on, resume_on, until, now)
    subscription.status = ACTIVE
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
    if segments[0].charge_type == ChargeType.OneTime.value:
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
        created.append(seg.successor(charge, start, span_end, now, segment=number))
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
    _require_status(subscription, (ACTIVE,), "suspended")
    day = _within_subscription(
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
            subscription.status = SUSPENDED
    _touch(subscription, now)
    ctx.session.flush()
    return Changed(subscription, _delta(before, metrics(subscription, account.currency)))


def resume_subscription(ctx: ServiceContext, key: ObjectKey, resumption: Resumption) -> Changed:
    """Resume from a date: each charge gets a new segment from then (to the term end,
    moved by the days suspended when ``extends_term``)."""
    subscription = find_subscription(ctx, key, lock=True)
    _require_status(subscription, (SUSPENDED,), "resumed")
    if subscription.resumed_date is not None:
        raise _rule(
            f"Subscription {subscription.subscription_number} already resumes on "
            f"{subscription.resumed_date.isoformat()}."
        )
    if subscription.suspended_date is None:
        raise _rule(f"Subscription {subscription.subscription_number} has no suspend date.")
    resume_on = _resume_date(ctx, subscription.suspended_date, resumption)
    check_date(resume_on, "resumeSpecificDate")
    account = account_of(ctx, subscription)
    before = metrics(subscription, account.currency)
    now = ctx.clock.now()
    _resume(subscription, resume_on, resumption.extends_term, now)
    _touch(subscription, now)
    ctx.session.flush()
    return Changed(subscription, _delta(before, metrics(subscription, account.currency)))


def _renew(subscription: Subscription, now: datetime) -> None:
    old_end = subscription.term_end_date
    if subscription.term_type != TERMED or old_end is None:
        raise _rule("Only a TERMED subscription can be renewed.")
    if subscription.renewal_setting == RENEW_TO_EVERGREEN:
        subscription.term_type = EVERGREEN
        subscription.term_start_date = old_end
        subscription.term_end_date = None
        subscription.subscription_end_date = None
        subscription.current_term = None
        _move_term_end(subscription, old_end, None, now)
    else:
        if not subscription.renewal_term:
            raise _rule(
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
        _move_term_end(subscription, old_end, new_end, now)
    _touch(subscription, now)


def renew_subscription(ctx: ServiceContext, key: ObjectKey) -> Changed:
    """Start the next term at the current term's end, with the renewal term."""
    subscription = find_subscription(ctx, key, lock=True)
    _require_status(subscription, (ACTIVE,), "renewed")
    account = account_of(ctx, subscription)
    before = metrics(subscription, account.currency)
    _renew(subscription, ctx.clock.now())
    ctx.session.flush()
    return Changed(subscription, _delta(before, metrics(subscription, account.currency)))


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
            subscription.term_type == TERMED
            and subscription.term_end_date is not None
            and subscription.term_end_date <= target_date
            and (subscription.renewal_setting == RENEW_TO_EVERGREEN or subscription.renewal_term)
        ):
            _renew(subscription, now)
            count += 1
        if count:
            renewed.append(subscription)
    ctx.session.flush()
    return renewed
