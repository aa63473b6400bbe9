"""Amending a subscription: rate plans added, updated and removed, term settings changed.

Every change is expressed in charge segments and dates only: a price or quantity change
ends the current segment and starts the next one (unless nothing was billed under the
old terms yet), a removal ends the rate plan's segments. What that means in money,
credits included, is left to rating.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from billcycle.catalog import charge_terms as terms
from billcycle.catalog.price_tiers import TierTerms, override_tiers
from billcycle.catalog.vocabulary import ChargeType
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, MissingField
from billcycle.subscriptions.charges import TriggerDates, check_rateable, trigger_start
from billcycle.subscriptions.checks import (
    MAX_DESCRIPTION,
    MAX_NOTES,
    MAX_TERM,
    count,
    invalid,
    literal,
    optional_date,
    require_status,
    rule,
    text,
    within_subscription,
)
from billcycle.subscriptions.inputs import (
    ChargeUpdate,
    ObjectKey,
    RatePlanAddition,
    RatePlanRemoval,
    RatePlanUpdate,
    SubscriptionChanges,
)
from billcycle.subscriptions.models import (
    SUBSCRIPTION,
    Subscription,
    SubscriptionCharge,
    SubscriptionRatePlan,
)
from billcycle.subscriptions.segments import (
    end_segment_by,
    is_tiered,
    move_term_end,
    segments_by_charge,
    set_tiers,
    start_next_segment,
)
from billcycle.subscriptions.service import (
    account_of,
    find_subscription,
    resolve_plans,
    subscribe_plan,
    touch,
)
from billcycle.subscriptions.statuses import RenewalSetting, SubscriptionStatus, TermType
from billcycle.subscriptions.terms import normalize_period_type, term_end
from billcycle.subscriptions.views import Changed, delta, metrics


def _rate_plan_of(subscription: Subscription, key: ObjectKey) -> SubscriptionRatePlan:
    for rate_plan in subscription.rate_plans:
        if key.id is not None and rate_plan.id == key.id:
            return rate_plan
    raise invalid(
        f"Invalid value for ratePlanId: {key.text} is not a rate plan of subscription "
        f"{subscription.subscription_number}.",
        "ratePlanId",
    )


def _set_term(
    subscription: Subscription, term_type: str, current: int | None, period: str, now: datetime
) -> None:
    old_end = subscription.term_end_date
    if term_type == TermType.EVERGREEN:
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
    move_term_end(subscription, old_end, new_end, now)


def _apply_term_changes(subscription: Subscription, changes: SubscriptionChanges) -> bool:
    changed = False
    if changes.auto_renew is not None:
        subscription.auto_renew = changes.auto_renew
        changed = True
    if changes.renewal_term is not None:
        subscription.renewal_term = count(changes.renewal_term, "renewalTerm", 0, MAX_TERM)
        changed = True
    if changes.renewal_term_period_type is not None:
        subscription.renewal_term_period_type = normalize_period_type(
            changes.renewal_term_period_type, "renewalTermPeriodType"
        )
        changed = True
    if changes.renewal_setting is not None:
        subscription.renewal_setting = terms.match_name(
            changes.renewal_setting, tuple(RenewalSetting), "renewalSetting", resource=SUBSCRIPTION
        )
        changed = True
    if changes.invoice_separately is not None:
        subscription.invoice_separately = changes.invoice_separately
        changed = True
    if changes.notes is not None:
        subscription.notes = text(changes.notes, "notes", MAX_NOTES)
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
        terms.match_name(changes.term_type, tuple(TermType), "termType", resource=SUBSCRIPTION)
        if changes.term_type
        else subscription.term_type
    )
    current = changes.current_term
    if current is not None:
        count(current, "currentTerm", 1, MAX_TERM)
    elif term_type == TermType.TERMED and subscription.term_type == TermType.TERMED:
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
        raise rule(f"Rate plan {removal.rate_plan.text} has already been removed.")
    day = within_subscription(
        subscription, removal.contract_effective_date, "contractEffectiveDate"
    )
    rate_plan.removed_date = day
    rate_plan.updated_at = now
    for charge in rate_plan.charges:
        end_segment_by(charge, day, now)


def _last_segment_of(
    rate_plan: SubscriptionRatePlan, key: ObjectKey
) -> tuple[SubscriptionCharge, list[SubscriptionCharge]]:
    for segments in segments_by_charge(rate_plan):
        if key.id is not None and any(charge.id == key.id for charge in segments):
            return segments[-1], segments
    raise InvalidValue(
        f"Invalid value for ratePlanChargeId: {literal(key.text)} is not a charge of rate "
        "plan {rate_plan}.",
        ids={"rate_plan": rate_plan.id},
        resource=SUBSCRIPTION,
        field="ratePlanChargeId",
    )


def _new_terms(
    charge: SubscriptionCharge, update: ChargeUpdate
) -> tuple[Decimal | None, Decimal | None, tuple[TierTerms, ...] | None]:
    price = (
        terms.exact_number(update.price, "price", resource=SUBSCRIPTION, negative=False)
        if update.price is not None
        else None
    )
    quantity = (
        terms.exact_number(update.quantity, "quantity", resource=SUBSCRIPTION, negative=False)
        if update.quantity is not None
        else None
    )
    tiers = (
        override_tiers(update.tiers, resource=SUBSCRIPTION) if update.tiers is not None else None
    )
    if price is None and quantity is None and tiers is None and update.description is None:
        raise invalid(
            f"Nothing to update for charge {charge.charge_number}: give a price, quantity or "
            "tiers.",
            "chargeUpdateDetails",
        )
    if is_tiered(charge):
        if price is not None:
            raise invalid(
                f"Invalid value for price: charge {charge.charge_number} uses "
                f"{charge.charge_model}; update its tiers instead.",
                "price",
            )
    elif tiers is not None:
        if len(tiers) != 1:
            raise invalid(
                f"Invalid value for tiers: charge {charge.charge_number} has a single price.",
                "tiers",
            )
        price = price if price is not None else tiers[0].price
        tiers = None
    return price, quantity, tiers


def _change_date(update: RatePlanUpdate, change: ChargeUpdate) -> date:
    if change.trigger_event:
        event = terms.trigger_event(change.trigger_event, resource=SUBSCRIPTION)
        return trigger_start(
            event,
            TriggerDates(
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
    description = text(change.description, "description", MAX_DESCRIPTION)
    on = within_subscription(subscription, _change_date(update, change), "contractEffectiveDate")
    if last.charge_type == ChargeType.OneTime:
        if last.billed_through is not None:
            raise rule(f"One-time charge {last.charge_number} has been billed: it cannot change.")
        target = last
    else:
        if on < last.effective_start_date:
            raise rule(
                f"Charge {last.charge_number} cannot change on {on.isoformat()}: its current "
                f"segment starts on {last.effective_start_date.isoformat()}."
            )
        end = last.effective_end_date
        if end is not None and on >= end:
            raise rule(
                f"Charge {last.charge_number} cannot change on {on.isoformat()}: it ends on "
                f"{end.isoformat()}."
            )
        if on == last.effective_start_date and last.billed_through is None:
            target = last  # nothing billed under the old terms: no need for a new segment
        else:
            target = start_next_segment(last, on, now)
            rate_plan.charges.append(target)
    if price is not None:
        target.price = price
    if quantity is not None:
        target.quantity = quantity
    if tiers is not None:
        set_tiers(target, tiers)
    if description is not None:
        target.description = description
    target.updated_at = now
    check_rateable(target)


def _update_plan(subscription: Subscription, update: RatePlanUpdate, now: datetime) -> None:
    rate_plan = _rate_plan_of(subscription, update.rate_plan)
    if rate_plan.removed_date is not None:
        raise rule(f"Rate plan {update.rate_plan.text} has been removed: it cannot change.")
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
    contract = within_subscription(
        subscription, addition.contract_effective_date, "contractEffectiveDate"
    )
    dates = TriggerDates(
        contract_effective=contract,
        service_activation=optional_date(addition.service_activation_date, "serviceActivationDate"),
        customer_acceptance=optional_date(
            addition.customer_acceptance_date, "customerAcceptanceDate"
        ),
    )
    ((plan, overrides),) = resolve_plans(ctx, [addition.rate_plan], "productRatePlanId")
    subscribe_plan(ctx, subscription, plan, overrides, dates=dates, currency=currency, now=now)


def update_subscription(
    ctx: ServiceContext, key: ObjectKey, changes: SubscriptionChanges
) -> Changed:
    """Apply an amendment: term settings first (added charges follow the new term end),
    then removals, updates and additions, each dated by its own effective date."""
    subscription = find_subscription(ctx, key, lock=True)
    require_status(subscription, (SubscriptionStatus.ACTIVE,), "amended")
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
        touch(subscription, now)
    ctx.session.flush()
    return Changed(subscription, delta(before, metrics(subscription, account.currency)))
