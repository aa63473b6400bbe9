"""Subscriptions: finding them and creating them.

A new subscription gets segment 1 of every charge of its rate plans (see
:mod:`billcycle.subscriptions.charges`). Reading is in :mod:`.views`, amending in
:mod:`.amendments`, cancelling, suspending, resuming and renewing in :mod:`.lifecycle`.

Functions take a :class:`ServiceContext`, flush and never commit; a subscription being
changed is read under a row lock so concurrent amendments apply one after the other.
Any error leaves the unit of work to roll back, so a refused request changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from billcycle.accounts import repository as accounts
from billcycle.accounts.models import Account
from billcycle.accounts.statuses import AccountStatus
from billcycle.catalog import repository as catalog
from billcycle.catalog.charge_terms import match_name
from billcycle.catalog.models import ProductRatePlan
from billcycle.context import ServiceContext
from billcycle.errors import MissingField, NotFound
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.subscriptions import repository
from billcycle.subscriptions.charges import ChargeFrame, TriggerDates, build_charge
from billcycle.subscriptions.checks import (
    MAX_NOTES,
    MAX_NUMBER_LENGTH,
    MAX_TERM,
    count,
    invalid,
    optional_date,
    rule,
    text,
)
from billcycle.subscriptions.inputs import ChargeOverride, NewSubscription, ObjectKey, RatePlanInput
from billcycle.subscriptions.models import (
    SUBSCRIPTION,
    Subscription,
    SubscriptionRatePlan,
)
from billcycle.subscriptions.statuses import RenewalSetting, SubscriptionStatus, TermType
from billcycle.subscriptions.terms import check_date, normalize_period_type, term_end
from billcycle.tenancy.numbers import next_number

_NUMBER_ATTEMPTS = 1000


def _key_text(key: ObjectKey) -> str | None:
    """The key as a number to look up, or None when it cannot be one."""
    text = key.text.strip()
    return text if text and "\x00" not in text and len(text) <= 255 else None


def find_subscription(ctx: ServiceContext, key: ObjectKey, *, lock: bool = False) -> Subscription:
    """The subscription by key (its id, else its number) in this tenant, or NotFound."""
    text = _key_text(key)
    found = None
    if text is not None or key.id is not None:
        found = repository.find_subscription_by_key(
            ctx.session, ctx.tenant_id, subscription_id=key.id, number=text or "", lock=lock
        )
    if found is None:
        raise NotFound(f"Subscription {key.text} does not exist.", resource=SUBSCRIPTION)
    return found


def find_account(ctx: ServiceContext, key: ObjectKey) -> Account | None:
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


def touch(subscription: Subscription, now: datetime) -> None:
    subscription.version += 1
    subscription.updated_at = now


def _catalog_plan(ctx: ServiceContext, key: ObjectKey, field: str) -> ProductRatePlan:
    plan = catalog.get_rate_plan(ctx.session, ctx.tenant_id, key.id) if key.id is not None else None
    if plan is None:
        raise invalid(f"Invalid value for {field}: product rate plan {key.text} not found.", field)
    return plan


def _overrides_by_charge(
    plan: ProductRatePlan, overrides: Sequence[ChargeOverride]
) -> dict[int, ChargeOverride]:
    known = {charge.id for charge in plan.charges}
    found: dict[int, ChargeOverride] = {}
    for override in overrides:
        charge_id = override.product_rate_plan_charge.id
        if charge_id is None or charge_id not in known:
            raise invalid(
                f"Invalid value for productRatePlanChargeId: "
                f"{override.product_rate_plan_charge.text} is not a charge of product rate "
                f"plan '{plan.name}'.",
                "productRatePlanChargeId",
            )
        if charge_id in found:
            raise invalid(
                f"Invalid value for chargeOverrides: charge "
                f"{override.product_rate_plan_charge.text} is overridden twice.",
                "chargeOverrides",
            )
        found[charge_id] = override
    return found


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
    term_type = match_name(new.term_type, tuple(TermType), "termType", resource=SUBSCRIPTION)
    initial = new.initial_term
    if term_type == TermType.TERMED:
        if initial is None:
            raise MissingField(
                "initialTerm is required for a TERMED subscription.",
                resource=SUBSCRIPTION,
                field="initialTerm",
            )
        count(initial, "initialTerm", 1, MAX_TERM)
    else:
        initial = None  # Zuora ignores the initial term of an evergreen subscription
    renewal = count(new.renewal_term or 0, "renewalTerm", 0, MAX_TERM)
    setting = (
        match_name(
            new.renewal_setting, tuple(RenewalSetting), "renewalSetting", resource=SUBSCRIPTION
        )
        if new.renewal_setting
        else RenewalSetting.RENEW_WITH_SPECIFIC_TERM
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
        number = (text(wanted.strip(), "subscriptionNumber", MAX_NUMBER_LENGTH) or "").strip()
        if not number:
            raise invalid("Invalid value for subscriptionNumber: it is empty.")
        if repository.subscription_number_taken(ctx.session, ctx.tenant_id, number):
            raise rule(f"The subscription number {number} is already in use.")
        return number
    # A client may have chosen a number that looks generated: skip past it.
    for _ in range(_NUMBER_ATTEMPTS):
        number = next_number(ctx.session, ctx.tenant_id, "subscription")
        if not repository.subscription_number_taken(ctx.session, ctx.tenant_id, number):
            return number
    raise rule("Could not allocate a subscription number.")


def subscribe_plan(
    ctx: ServiceContext,
    subscription: Subscription,
    plan: ProductRatePlan,
    overrides: dict[int, ChargeOverride],
    *,
    dates: TriggerDates,
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
    frame = ChargeFrame(
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
            build_charge(
                catalog_charge,
                overrides.get(catalog_charge.id),
                frame=frame,
                dates=dates,
                charge_number=next_number(ctx.session, ctx.tenant_id, "charge"),
            )
        )
    return rate_plan


def resolve_plans(
    ctx: ServiceContext, plans: Sequence[RatePlanInput], field: str
) -> list[tuple[ProductRatePlan, dict[int, ChargeOverride]]]:
    resolved = []
    for item in plans:
        plan = _catalog_plan(ctx, item.product_rate_plan, field)
        resolved.append((plan, _overrides_by_charge(plan, item.charge_overrides)))
    return resolved


def _subscribable_account(ctx: ServiceContext, key: ObjectKey) -> Account:
    account = find_account(ctx, key)
    if account is None:
        raise invalid(f"Invalid value for accountKey: account {key.text} not found.", "accountKey")
    if account.status == AccountStatus.CANCELED:
        raise rule(f"Account {account.account_number} is canceled: it cannot subscribe.")
    return account


def create_subscription(ctx: ServiceContext, new: NewSubscription) -> Subscription:
    """A new Active subscription with segment 1 of every charge of its rate plans."""
    account = _subscribable_account(ctx, new.account)
    contract = check_date(new.contract_effective_date, "contractEffectiveDate")
    dates = TriggerDates(
        contract_effective=contract,
        service_activation=optional_date(new.service_activation_date, "serviceActivationDate"),
        customer_acceptance=optional_date(new.customer_acceptance_date, "customerAcceptanceDate"),
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
    notes = text(new.notes, "notes", MAX_NOTES)
    plans = resolve_plans(ctx, new.rate_plans, "productRatePlanId")
    number = _subscription_number(ctx, new.subscription_number)
    now = ctx.clock.now()
    subscription = Subscription(
        tenant_id=ctx.tenant_id,
        account_id=account.id,
        subscription_number=number,
        status=SubscriptionStatus.ACTIVE,
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
        raise rule(f"The subscription number {number} is already in use.")
    for plan, overrides in plans:
        subscribe_plan(
            ctx, subscription, plan, overrides, dates=dates, currency=account.currency, now=now
        )
    ctx.session.flush()
    events.emit(ctx, EventType.SUBSCRIPTION_CREATED, subscription)
    return subscription
