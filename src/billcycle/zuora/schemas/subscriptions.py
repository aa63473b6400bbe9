"""Zuora wire shapes for ``/v1/subscriptions`` and their mapping to and from the domain.

Field names and types follow zuora-sdk's models (CreateSubscriptionRequest/Response,
GetSubscriptionResponse, GetSubscriptionsResponse, UpdateSubscriptionRequest/Response,
Cancel/Suspend/Resume/RenewSubscriptionRequest/Response), so the SDK deserializes every
answer. Requests use strict types: dates must be ``yyyy-mm-dd`` strings and amounts JSON
numbers; a string where Zuora expects a number is refused, not guessed at.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, StrictBool, StrictInt, StrictStr

from billcycle.catalog.vocabulary import (
    BillCycleType,
    BillingPeriodAlignment,
    EndDateCondition,
    ListPriceBase,
    TriggerEvent,
)
from billcycle.errors import InvalidValue
from billcycle.ids import is_ascii_digits, parse_zuora_id, to_zuora_id
from billcycle.rating import ChargeModel, ChargeType, PriceFormat
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
    TierInput,
)
from billcycle.subscriptions.models import Subscription, SubscriptionCharge
from billcycle.subscriptions.views import (
    Changed,
    ChargeView,
    RatePlanView,
    SegmentView,
    SubscriptionView,
)
from billcycle.zuora.schemas.base import (
    CamelRequest,
    CamelResponse,
    CommonResponse,
    WireAmount,
    WireDate,
    wire_date,
)

# -- wire value types -------------------------------------------------------------------------


def _wire_number(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    # JSON parsing already made a float; its shortest repr is the literal the client sent.
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def _int_or_digits(value: object) -> int:
    """The SDK types some counts (billCycleDay, suspendPeriods) as strings."""
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and is_ascii_digits(value.strip()) and len(value.strip()) <= 9:
        return int(value.strip())
    raise ValueError("must be a whole number")


WireNumber = Annotated[Decimal, BeforeValidator(_wire_number)]
WireCount = Annotated[int, BeforeValidator(_int_or_digits)]


def _key(text: str) -> ObjectKey:
    return ObjectKey(id=parse_zuora_id(text), text=text)


# -- requests ---------------------------------------------------------------------------------


class _BillingFlags(CamelRequest):
    """Billing in the same call (Zuora's invoice/runBilling/collect): not supported, so a
    request asking for it is refused rather than silently left unbilled."""

    invoice: StrictBool | None = None
    run_billing: StrictBool | None = None
    invoice_collect: StrictBool | None = None
    collect: StrictBool | None = None

    def refuse_billing(self) -> None:
        for name in ("invoice", "run_billing", "invoice_collect", "collect"):
            if getattr(self, name):
                field = type(self).model_fields[name].alias or name
                raise InvalidValue(
                    f"Invalid value for {field}: billing within a subscription request is not "
                    "supported; create a bill run instead.",
                    resource="subscription",
                    field=field,
                )


class TierRequest(CamelRequest):
    tier: StrictInt
    price: WireNumber
    starting_unit: WireNumber | None = None
    ending_unit: WireNumber | None = None
    price_format: StrictStr | None = None


class ChargeOverrideRequest(CamelRequest):
    product_rate_plan_charge_id: StrictStr
    price: WireNumber | None = None
    quantity: WireNumber | None = None
    tiers: list[TierRequest] | None = None
    description: StrictStr | None = None
    bill_cycle_type: StrictStr | None = None
    bill_cycle_day: WireCount | None = None
    weekly_bill_cycle_day: StrictStr | None = None
    billing_period: StrictStr | None = None
    specific_billing_period: StrictInt | None = None
    billing_timing: StrictStr | None = None
    trigger_event: StrictStr | None = None
    trigger_date: WireDate | None = None
    end_date_condition: StrictStr | None = None
    # Discount charges: the percentage or amount (instead of price), and their terms.
    discount_percentage: WireNumber | None = None
    discount_amount: WireNumber | None = None
    apply_discount_to: StrictStr | None = None
    discount_level: StrictStr | None = None
    up_to_periods: StrictInt | None = None


class SubscribeToRatePlanRequest(CamelRequest):
    product_rate_plan_id: StrictStr
    charge_overrides: list[ChargeOverrideRequest] | None = None


class CreateSubscriptionRequest(_BillingFlags):
    account_key: StrictStr
    contract_effective_date: WireDate
    term_type: StrictStr
    subscribe_to_rate_plans: list[SubscribeToRatePlanRequest]
    service_activation_date: WireDate | None = None
    customer_acceptance_date: WireDate | None = None
    term_start_date: WireDate | None = None
    initial_term: StrictInt | None = None
    initial_term_period_type: StrictStr | None = None
    renewal_term: StrictInt | None = None
    renewal_term_period_type: StrictStr | None = None
    auto_renew: StrictBool | None = None
    renewal_setting: StrictStr | None = None
    invoice_separately: StrictBool | None = None
    notes: StrictStr | None = None
    subscription_number: StrictStr | None = None


class AddRatePlanRequest(CamelRequest):
    product_rate_plan_id: StrictStr
    contract_effective_date: WireDate
    service_activation_date: WireDate | None = None
    customer_acceptance_date: WireDate | None = None
    charge_overrides: list[ChargeOverrideRequest] | None = None


class ChargeUpdateRequest(CamelRequest):
    rate_plan_charge_id: StrictStr
    price: WireNumber | None = None
    quantity: WireNumber | None = None
    tiers: list[TierRequest] | None = None
    description: StrictStr | None = None
    trigger_event: StrictStr | None = None
    trigger_date: WireDate | None = None


class UpdateRatePlanRequest(CamelRequest):
    rate_plan_id: StrictStr
    contract_effective_date: WireDate
    service_activation_date: WireDate | None = None
    customer_acceptance_date: WireDate | None = None
    specific_update_date: WireDate | None = None
    charge_update_details: list[ChargeUpdateRequest] | None = None


class RemoveRatePlanRequest(CamelRequest):
    rate_plan_id: StrictStr
    contract_effective_date: WireDate


class UpdateSubscriptionRequest(_BillingFlags):
    add: list[AddRatePlanRequest] | None = None
    update: list[UpdateRatePlanRequest] | None = None
    remove: list[RemoveRatePlanRequest] | None = None
    change: list[dict[str, Any]] | None = None
    preview: StrictBool | None = None
    term_type: StrictStr | None = None
    current_term: StrictInt | None = None
    current_term_period_type: StrictStr | None = None
    auto_renew: StrictBool | None = None
    renewal_term: StrictInt | None = None
    renewal_term_period_type: StrictStr | None = None
    renewal_setting: StrictStr | None = None
    invoice_separately: StrictBool | None = None
    notes: StrictStr | None = None


class CancelSubscriptionRequest(_BillingFlags):
    cancellation_policy: StrictStr
    cancellation_effective_date: WireDate | None = None


class SuspendSubscriptionRequest(_BillingFlags):
    suspend_policy: StrictStr
    suspend_specific_date: WireDate | None = None
    suspend_periods: WireCount | None = None
    suspend_periods_type: StrictStr | None = None
    resume: StrictBool | None = None
    resume_policy: StrictStr | None = None
    resume_specific_date: WireDate | None = None
    resume_periods: WireCount | None = None
    resume_periods_type: StrictStr | None = None
    extends_term: StrictBool | None = None


class ResumeSubscriptionRequest(_BillingFlags):
    resume_policy: StrictStr
    resume_specific_date: WireDate | None = None
    resume_periods: WireCount | None = None
    resume_periods_type: StrictStr | None = None
    extends_term: StrictBool | None = None


class RenewSubscriptionRequest(_BillingFlags):
    pass


# -- request -> domain ------------------------------------------------------------------------


def _tiers(tiers: Sequence[TierRequest] | None) -> tuple[TierInput, ...] | None:
    if tiers is None:
        return None
    return tuple(
        TierInput(
            tier=t.tier,
            price=t.price,
            starting_unit=t.starting_unit,
            ending_unit=t.ending_unit,
            price_format=t.price_format,
        )
        for t in tiers
    )


def _override(body: ChargeOverrideRequest) -> ChargeOverride:
    return ChargeOverride(
        product_rate_plan_charge=_key(body.product_rate_plan_charge_id),
        price=body.price
        if body.price is not None
        else (
            body.discount_percentage
            if body.discount_percentage is not None
            else body.discount_amount
        ),
        quantity=body.quantity,
        tiers=_tiers(body.tiers),
        description=body.description,
        bill_cycle_type=body.bill_cycle_type,
        bill_cycle_day=body.bill_cycle_day,
        weekly_bill_cycle_day=body.weekly_bill_cycle_day,
        billing_period=body.billing_period,
        specific_billing_period=body.specific_billing_period,
        billing_timing=body.billing_timing,
        trigger_event=body.trigger_event,
        trigger_date=body.trigger_date,
        end_date_condition=body.end_date_condition,
        apply_discount_to=body.apply_discount_to,
        discount_level=body.discount_level,
        up_to_periods=body.up_to_periods,
    )


def _rate_plan(
    product_rate_plan_id: str, overrides: list[ChargeOverrideRequest] | None
) -> RatePlanInput:
    return RatePlanInput(
        product_rate_plan=_key(product_rate_plan_id),
        charge_overrides=tuple(_override(o) for o in overrides or ()),
    )


def to_new_subscription(body: CreateSubscriptionRequest) -> NewSubscription:
    body.refuse_billing()
    return NewSubscription(
        account=_key(body.account_key),
        contract_effective_date=body.contract_effective_date,
        term_type=body.term_type,
        rate_plans=tuple(
            _rate_plan(p.product_rate_plan_id, p.charge_overrides)
            for p in body.subscribe_to_rate_plans
        ),
        service_activation_date=body.service_activation_date,
        customer_acceptance_date=body.customer_acceptance_date,
        term_start_date=body.term_start_date,
        initial_term=body.initial_term,
        initial_term_period_type=body.initial_term_period_type,
        renewal_term=body.renewal_term,
        renewal_term_period_type=body.renewal_term_period_type,
        auto_renew=body.auto_renew,
        renewal_setting=body.renewal_setting,
        invoice_separately=body.invoice_separately,
        notes=body.notes,
        subscription_number=body.subscription_number,
    )


def _charge_update(body: ChargeUpdateRequest) -> ChargeUpdate:
    return ChargeUpdate(
        charge=_key(body.rate_plan_charge_id),
        price=body.price,
        quantity=body.quantity,
        tiers=_tiers(body.tiers),
        description=body.description,
        trigger_event=body.trigger_event,
        trigger_date=body.trigger_date,
    )


def to_subscription_changes(body: UpdateSubscriptionRequest) -> SubscriptionChanges:
    body.refuse_billing()
    if body.change:
        raise InvalidValue(
            "Invalid value for change: replacing a rate plan is not supported; remove it and "
            "add the new one.",
            resource="subscription",
            field="change",
        )
    if body.preview:
        raise InvalidValue(
            "Invalid value for preview: previewing an update is not supported.",
            resource="subscription",
            field="preview",
        )
    return SubscriptionChanges(
        add=tuple(
            RatePlanAddition(
                rate_plan=_rate_plan(a.product_rate_plan_id, a.charge_overrides),
                contract_effective_date=a.contract_effective_date,
                service_activation_date=a.service_activation_date,
                customer_acceptance_date=a.customer_acceptance_date,
            )
            for a in body.add or ()
        ),
        update=tuple(
            RatePlanUpdate(
                rate_plan=_key(u.rate_plan_id),
                contract_effective_date=u.contract_effective_date,
                service_activation_date=u.service_activation_date,
                customer_acceptance_date=u.customer_acceptance_date,
                specific_update_date=u.specific_update_date,
                charge_updates=tuple(_charge_update(c) for c in u.charge_update_details or ()),
            )
            for u in body.update or ()
        ),
        remove=tuple(
            RatePlanRemoval(
                rate_plan=_key(r.rate_plan_id), contract_effective_date=r.contract_effective_date
            )
            for r in body.remove or ()
        ),
        term_type=body.term_type,
        current_term=body.current_term,
        current_term_period_type=body.current_term_period_type,
        auto_renew=body.auto_renew,
        renewal_term=body.renewal_term,
        renewal_term_period_type=body.renewal_term_period_type,
        renewal_setting=body.renewal_setting,
        invoice_separately=body.invoice_separately,
        notes=body.notes,
    )


def to_cancellation(body: CancelSubscriptionRequest) -> Cancellation:
    body.refuse_billing()
    return Cancellation(
        policy=body.cancellation_policy, effective_date=body.cancellation_effective_date
    )


def to_suspension(body: SuspendSubscriptionRequest) -> Suspension:
    body.refuse_billing()
    resume = None
    if body.resume:
        resume = Resumption(
            policy=body.resume_policy,
            specific_date=body.resume_specific_date,
            periods=body.resume_periods,
            periods_type=body.resume_periods_type,
            extends_term=bool(body.extends_term),
        )
    return Suspension(
        policy=body.suspend_policy,
        specific_date=body.suspend_specific_date,
        periods=body.suspend_periods,
        periods_type=body.suspend_periods_type,
        resume=resume,
    )


def to_resumption(body: ResumeSubscriptionRequest) -> Resumption:
    body.refuse_billing()
    return Resumption(
        policy=body.resume_policy,
        specific_date=body.resume_specific_date,
        periods=body.resume_periods,
        periods_type=body.resume_periods_type,
        extends_term=bool(body.extends_term),
    )


def object_key(text: str) -> ObjectKey:
    """A Zuora key from a path: an id when it is 32 hex digits, else a number."""
    return _key(text)


# -- responses --------------------------------------------------------------------------------

# The catalog stores the rating engine's names; the subscription API shows Zuora's short ones.
_WIRE_MODEL = {
    ChargeModel.FlatFee.value: "FlatFee",
    ChargeModel.PerUnit.value: "PerUnit",
    ChargeModel.Tiered.value: "Tiered",
    ChargeModel.Volume.value: "Volume",
}
_WIRE_PRICE_FORMAT = {PriceFormat.FlatFee.value: "FlatFee", PriceFormat.PerUnit.value: "PerUnit"}


class CreateSubscriptionResponse(CommonResponse):
    subscription_id: str
    subscription_number: str
    contracted_mrr: WireAmount
    total_contracted_value: WireAmount | None = None


class TierResponse(CamelResponse):
    tier: int
    starting_unit: WireAmount | None = None
    ending_unit: WireAmount | None = None
    price: WireAmount
    price_format: str


class ChargeSegmentResponse(CamelResponse):
    """One segment's fields (zuora-sdk's RatePlanChargeSegment)."""

    id: str
    segment: int
    price: WireAmount | None = None
    quantity: WireAmount | None = None
    tiers: list[TierResponse] | None = None
    currency: str
    effective_start_date: date
    effective_end_date: date | None = None
    charged_through_date: date | None = None
    processed_through_date: date | None = None
    trigger_event: str
    trigger_date: date | None = None
    end_date_condition: str
    mrr: WireAmount | None = None
    tcv: WireAmount | None = None
    description: str | None = None


class RatePlanChargeResponse(ChargeSegmentResponse):
    """zuora-sdk's GetSubscriptionRatePlanChargesWithAllSegments."""

    number: str
    name: str
    type: str
    model: str
    version: int
    is_last_segment: bool
    uom: str | None = None
    billing_day: str
    # Not in the SDK model (it arrives in additional_properties): the bill cycle day the
    # charge bills on, resolved against the account.
    bill_cycle_day: int
    billing_period: str | None = None
    specific_billing_period: int | None = None
    billing_timing: str | None = None
    billing_period_alignment: str | None = None
    list_price_base: str | None = None
    product_rate_plan_charge_id: str
    charge_segments: list[ChargeSegmentResponse] | None = None


class RatePlanResponse(CamelResponse):
    id: str
    product_id: str
    product_name: str
    product_sku: str
    product_rate_plan_id: str
    rate_plan_name: str
    last_change_type: str | None = None
    contracted_mrr: WireAmount
    rate_plan_charges: list[RatePlanChargeResponse]


class SubscriptionResponse(CamelResponse):
    """zuora-sdk's GetSubscriptionResponse without the envelope fields."""

    id: str
    subscription_number: str
    account_id: str
    account_name: str
    account_number: str
    currency: str
    payment_term: str
    status: str
    version: int
    is_latest_version: bool = True
    term_type: str
    initial_term: int | None = None
    initial_term_period_type: str
    current_term: int | None = None
    current_term_period_type: str
    renewal_term: int | None = None
    renewal_term_period_type: str
    auto_renew: bool
    renewal_setting: str
    contract_effective_date: date
    service_activation_date: date | None = None
    customer_acceptance_date: date | None = None
    subscription_start_date: date
    subscription_end_date: date | None = None
    term_start_date: date
    term_end_date: date | None = None
    invoice_separately: bool
    notes: str | None = None
    contracted_mrr: WireAmount
    total_contracted_value: WireAmount | None = None
    total_number_of_charge_segments: int
    rate_plans: list[RatePlanResponse]


class GetSubscriptionResponse(SubscriptionResponse):
    success: bool = True


class GetSubscriptionsResponse(CommonResponse):
    subscriptions: list[SubscriptionResponse]
    next_page: str | None = None


class UpdateSubscriptionResponse(CommonResponse):
    subscription_id: str
    total_delta_mrr: WireAmount
    total_delta_tcv: WireAmount | None = None


class CancelSubscriptionResponse(CommonResponse):
    subscription_id: str
    cancelled_date: date
    total_delta_mrr: WireAmount
    total_delta_tcv: WireAmount | None = None
    invoice_id: str | None = None


class SuspendSubscriptionResponse(CommonResponse):
    subscription_id: str
    suspend_date: date
    resume_date: date | None = None
    term_end_date: date | None = None
    total_delta_tcv: WireAmount | None = None


class ResumeSubscriptionResponse(CommonResponse):
    subscription_id: str
    resume_date: date
    term_end_date: date | None = None
    total_delta_tcv: WireAmount | None = None


class RenewSubscriptionResponse(CommonResponse):
    subscription_id: str
    term_start_date: date
    term_end_date: date | None = None
    total_delta_mrr: WireAmount
    total_delta_tcv: WireAmount | None = None


# -- domain -> response -----------------------------------------------------------------------


def created(subscription: Subscription, view: SubscriptionView) -> CreateSubscriptionResponse:
    return CreateSubscriptionResponse(
        subscription_id=to_zuora_id(subscription.id),
        subscription_number=subscription.subscription_number,
        contracted_mrr=view.metrics.mrr,
        total_contracted_value=view.metrics.tcv,
    )


def _billing_day(charge: SubscriptionCharge) -> str:
    kind = charge.bill_cycle_type
    if kind == BillCycleType.SpecificDayofMonth:
        return f"SpecificDayofMonth({charge.bill_cycle_day})"
    if kind == BillCycleType.SpecificDayofWeek:
        return f"SpecificDayofWeek/{charge.weekly_bill_cycle_day}"
    return kind


def _segment_fields(view: SegmentView) -> dict[str, Any]:
    charge = view.segment
    tiered = charge.charge_model in (ChargeModel.Tiered.value, ChargeModel.Volume.value)
    one_time = charge.charge_type == ChargeType.OneTime.value
    return {
        "id": to_zuora_id(charge.id),
        "segment": charge.segment,
        "price": None if tiered else charge.price,
        "quantity": charge.quantity,
        "tiers": [
            TierResponse(
                tier=t.tier,
                starting_unit=t.starting_unit,
                ending_unit=t.ending_unit,
                price=t.price,
                price_format=_WIRE_PRICE_FORMAT.get(t.price_format, t.price_format),
            )
            for t in charge.tiers
        ]
        if tiered
        else None,
        "currency": charge.currency,
        "effective_start_date": charge.effective_start_date,
        "effective_end_date": charge.effective_end_date,
        "charged_through_date": charge.billed_through,
        "processed_through_date": charge.processed_through,
        "trigger_event": charge.trigger_event,
        "trigger_date": charge.effective_start_date
        if charge.trigger_event == TriggerEvent.SpecificDate
        else None,
        "end_date_condition": EndDateCondition.OneTime
        if one_time
        else EndDateCondition.SubscriptionEnd,
        "mrr": view.mrr,
        "tcv": view.tcv,
        "description": charge.description,
    }


def _charge(view: ChargeView, all_segments: bool) -> RatePlanChargeResponse:
    charge = view.shown.segment
    recurring = charge.charge_type == ChargeType.Recurring.value
    return RatePlanChargeResponse(
        **_segment_fields(view.shown),
        number=charge.charge_number,
        name=charge.name,
        type=charge.charge_type,
        model=_WIRE_MODEL.get(charge.charge_model, charge.charge_model),
        version=charge.segment,
        is_last_segment=charge.is_last_segment,
        uom=charge.uom,
        billing_day=_billing_day(charge),
        bill_cycle_day=view.shown.bill_cycle_day,
        billing_period=charge.billing_period,
        specific_billing_period=charge.specific_billing_period,
        billing_timing=charge.billing_timing,
        billing_period_alignment=BillingPeriodAlignment.AlignToCharge if recurring else None,
        list_price_base=ListPriceBase.PerBillingPeriod if recurring else None,
        product_rate_plan_charge_id=to_zuora_id(charge.product_rate_plan_charge_id),
        charge_segments=[ChargeSegmentResponse(**_segment_fields(s)) for s in view.segments]
        if all_segments
        else None,
    )


def _last_change(view: RatePlanView) -> str | None:
    if view.rate_plan.removed_date is not None:
        return "Remove"
    if any(len(c.segments) > 1 for c in view.charges):
        return "Update"
    return None


def _rate_plan_response(view: RatePlanView, all_segments: bool) -> RatePlanResponse:
    rate_plan = view.rate_plan
    return RatePlanResponse(
        id=to_zuora_id(rate_plan.id),
        product_id=to_zuora_id(rate_plan.product_id),
        product_name=rate_plan.product_name,
        product_sku=rate_plan.product_sku,
        product_rate_plan_id=to_zuora_id(rate_plan.product_rate_plan_id),
        rate_plan_name=rate_plan.name,
        last_change_type=_last_change(view),
        contracted_mrr=view.mrr,
        rate_plan_charges=[_charge(c, all_segments) for c in view.charges],
    )


def _subscription_fields(view: SubscriptionView, all_segments: bool) -> dict[str, Any]:
    sub = view.subscription
    account = view.account
    return {
        "id": to_zuora_id(sub.id),
        "subscription_number": sub.subscription_number,
        "account_id": to_zuora_id(account.id),
        "account_name": account.name,
        "account_number": account.account_number,
        "currency": account.currency,
        "payment_term": account.payment_term,
        "status": sub.status,
        "version": sub.version,
        "term_type": sub.term_type,
        "initial_term": sub.initial_term,
        "initial_term_period_type": sub.initial_term_period_type,
        "current_term": sub.current_term,
        "current_term_period_type": sub.current_term_period_type,
        "renewal_term": sub.renewal_term,
        "renewal_term_period_type": sub.renewal_term_period_type,
        "auto_renew": sub.auto_renew,
        "renewal_setting": sub.renewal_setting,
        "contract_effective_date": sub.contract_effective_date,
        "service_activation_date": sub.service_activation_date,
        "customer_acceptance_date": sub.customer_acceptance_date,
        "subscription_start_date": sub.subscription_start_date,
        "subscription_end_date": sub.subscription_end_date,
        "term_start_date": sub.term_start_date,
        "term_end_date": sub.term_end_date,
        "invoice_separately": sub.invoice_separately,
        "notes": sub.notes,
        "contracted_mrr": view.metrics.mrr,
        "total_contracted_value": view.metrics.tcv,
        "total_number_of_charge_segments": sum(
            len(c.segments) for p in view.rate_plans for c in p.charges
        ),
        "rate_plans": [_rate_plan_response(p, all_segments) for p in view.rate_plans],
    }


def subscription_detail(view: SubscriptionView, *, all_segments: bool) -> GetSubscriptionResponse:
    return GetSubscriptionResponse(**_subscription_fields(view, all_segments))


def subscription_list(
    views: Sequence[SubscriptionView], next_page: str | None, *, all_segments: bool
) -> GetSubscriptionsResponse:
    return GetSubscriptionsResponse(
        subscriptions=[
            SubscriptionResponse(**_subscription_fields(v, all_segments)) for v in views
        ],
        next_page=next_page,
    )


def updated(result: Changed) -> UpdateSubscriptionResponse:
    return UpdateSubscriptionResponse(
        subscription_id=to_zuora_id(result.subscription.id),
        total_delta_mrr=result.delta.mrr,
        total_delta_tcv=result.delta.tcv,
    )


def cancelled(result: Changed) -> CancelSubscriptionResponse:
    sub = result.subscription
    assert sub.cancelled_date is not None  # set by the cancellation
    return CancelSubscriptionResponse(
        subscription_id=to_zuora_id(sub.id),
        cancelled_date=sub.cancelled_date,
        total_delta_mrr=result.delta.mrr,
        total_delta_tcv=result.delta.tcv,
    )


def suspended(result: Changed) -> SuspendSubscriptionResponse:
    sub = result.subscription
    assert sub.suspended_date is not None  # set by the suspension
    return SuspendSubscriptionResponse(
        subscription_id=to_zuora_id(sub.id),
        suspend_date=sub.suspended_date,
        resume_date=sub.resumed_date,
        term_end_date=sub.term_end_date,
        total_delta_tcv=result.delta.tcv,
    )


def resumed(result: Changed) -> ResumeSubscriptionResponse:
    sub = result.subscription
    assert sub.resumed_date is not None  # set by the resumption
    return ResumeSubscriptionResponse(
        subscription_id=to_zuora_id(sub.id),
        resume_date=sub.resumed_date,
        term_end_date=sub.term_end_date,
        total_delta_tcv=result.delta.tcv,
    )


def renewed(result: Changed) -> RenewSubscriptionResponse:
    sub = result.subscription
    return RenewSubscriptionResponse(
        subscription_id=to_zuora_id(sub.id),
        term_start_date=sub.term_start_date,
        term_end_date=sub.term_end_date,
        total_delta_mrr=result.delta.mrr,
        total_delta_tcv=result.delta.tcv,
    )


def query_date(value: str | None, field: str) -> date | None:
    """A ``yyyy-mm-dd`` query parameter, or a 400 naming it."""
    if value is None or value == "":
        return None
    try:
        return wire_date(value)
    except ValueError:
        raise InvalidValue(
            f"Invalid value for {field}: '{value}'. Use a date in yyyy-mm-dd format.",
            resource="subscription",
            field=field,
        ) from None
