"""Payments as attempts: every collection and refund leaves a payment activity, and a
successful collection a payment (Fusebill's model, over the same payments and ledger the
Zuora dialect uses).

Recorded money (cash, checks, direct deposits) is an External payment, Processed at
once and allocated in the same unit of work: any refused allocation refuses the whole
payment. Allocations are explicit, or automatic over the customer's open invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billcycle.accounts import service as accounts
from billcycle.accounts.models import Account
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, NotFound, RuleViolation
from billcycle.ledger.models import EntrySource
from billcycle.money import from_minor
from billcycle.payments import activity_repository as repo
from billcycle.payments import refunds
from billcycle.payments import service as payments
from billcycle.payments.activity_models import PaymentActivity
from billcycle.payments.activity_statuses import (
    RECORDED_KINDS,
    ActivityStatus,
    ActivityType,
    MethodKind,
    PaymentSource,
    RefundChannel,
)
from billcycle.payments.allocation import auto_allocation
from billcycle.payments.checks import PAYMENT, positive_minor
from billcycle.payments.inputs import NewCollection, NewCustomerRefund, NewPayment, NewRefund
from billcycle.payments.models import Payment, Refund
from billcycle.payments.statuses import (
    SETTLED_STATUSES,
    PaymentStatus,
    PaymentType,
    RefundMethodType,
)
from billcycle.payments.views import PaymentView, amounts_of

ACTIVITY = "payment_activity"
MAX_REFERENCE = 500
# Zuora's referenceId holds 100 characters: a longer Fusebill reference stays on the
# activity only.
_ZUORA_REFERENCE = 100

_REFUND_METHOD = {
    MethodKind.CASH: RefundMethodType.CASH,
    MethodKind.CHECK: RefundMethodType.CHECK,
    MethodKind.DIRECT_DEPOSIT: RefundMethodType.BANK_TRANSFER,
    MethodKind.CREDIT_CARD: RefundMethodType.CREDIT_CARD,
    MethodKind.ACH: RefundMethodType.ACH,
}
_CHANNEL_METHOD = {
    RefundChannel.CASH: RefundMethodType.CASH,
    RefundChannel.CHECK: RefundMethodType.CHECK,
    RefundChannel.DIRECT_DEPOSIT: RefundMethodType.BANK_TRANSFER,
}
_CHANNEL_KIND = {
    RefundChannel.CASH: MethodKind.CASH,
    RefundChannel.CHECK: MethodKind.CHECK,
    RefundChannel.DIRECT_DEPOSIT: MethodKind.DIRECT_DEPOSIT,
}


def customer(ctx: ServiceContext, account_id: int) -> Account:
    try:
        return accounts.require_account(ctx, account_id)
    except NotFound:
        raise NotFound(
            f"Customer {account_id} not found.", resource="account", field="customerId"
        ) from None


def check_reference(reference: str | None, resource: str = PAYMENT) -> None:
    if reference is not None and len(reference) > MAX_REFERENCE:
        raise InvalidValue(
            f"The reference is longer than {MAX_REFERENCE} characters.",
            resource=resource,
            field="reference",
        )


# -- collect ---------------------------------------------------------------------------


def collect(ctx: ServiceContext, data: NewCollection) -> Payment:
    """Record a payment of recorded money, allocate it, and note its activity."""
    account = customer(ctx, data.account_id)
    currency = account.currency
    amount_minor = positive_minor(data.amount, currency)
    check_reference(data.reference)
    if data.method_kind not in RECORDED_KINDS:
        if data.payment_method_id is None and not data.use_default_payment_method:
            raise InvalidValue(
                f"paymentMethodId is required for a {data.method_kind} payment.",
                resource=PAYMENT,
                field="paymentMethodId",
            )
        raise RuleViolation(
            f"{data.method_kind} payments are charged through a gateway "
            "(payments.card_collection.charge), not recorded.",
            resource=PAYMENT,
            field="paymentMethod",
        )
    if data.allocations and data.auto_allocate:
        raise InvalidValue(
            "Give paymentAllocations or autoAllocate, not both.",
            resource=PAYMENT,
            field="paymentAllocations",
        )
    allocated = 0
    for allocation in data.allocations:
        if allocation.amount is None:
            raise InvalidValue(
                "Every payment allocation needs its amount.", resource=PAYMENT, field="amount"
            )
        allocated += positive_minor(allocation.amount, currency)
    if allocated > amount_minor:
        raise InvalidValue(
            f"The allocations ({_money(allocated, currency)}) are more than the payment "
            f"({_money(amount_minor, currency)}).",
            resource=PAYMENT,
            field="paymentAllocations",
        )
    invoices = data.allocations
    if data.auto_allocate:
        invoices = auto_allocation(ctx, account.id, amount_minor, currency, data.order)
    payment = payments.create_payment(
        ctx,
        NewPayment(
            account_id=account.id,
            amount=data.amount,
            currency=currency,
            payment_type=PaymentType.EXTERNAL,
            invoices=invoices,
            reference_id=_zuora_reference(data.reference),
            source=EntrySource.FUSEBILL,
        ),
    )
    now = ctx.clock.now()
    record(
        ctx,
        PaymentActivity(
            tenant_id=ctx.tenant_id,
            account_id=account.id,
            payment_id=payment.id,
            status=ActivityStatus.SUCCESSFUL.value,
            transaction_type=ActivityType.COLLECT.value,
            source=data.source.value,
            method_kind=data.method_kind.value,
            method=data.method_kind.value,
            amount_minor=amount_minor,
            currency=currency,
            reference=data.reference,
            effective_at=now,
            created_at=now,
        ),
    )
    return payment


def record(ctx: ServiceContext, activity: PaymentActivity) -> PaymentActivity:
    """Note an attempt (the charging path records its failed ones through this too)."""
    return repo.insert(ctx.session, activity)


# -- refund ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckedRefund:
    payment: Payment
    amount_minor: int
    origin: PaymentActivity | None  # the collection that made the payment
    kind: MethodKind  # how the money leaves
    through_gateway: bool  # back through the gateway that charged it


def check_refund(ctx: ServiceContext, data: NewCustomerRefund) -> CheckedRefund:
    """The refund's payment and amount, or why it cannot be made (writes nothing)."""
    payment = _payment(ctx, data.payment_id)
    currency = payment.currency
    amount_minor = positive_minor(data.amount, currency)
    check_reference(data.reference, refunds.REFUND)
    amounts = amounts_of(ctx.session, [payment])[payment.id]
    if amount_minor > amounts.refundable_minor:
        raise InvalidValue(
            f"The refund ({_money(amount_minor, currency)}) is more than payment "
            f"{payment.id} can refund ({_money(amounts.refundable_minor, currency)}).",
            resource=refunds.REFUND,
            field="amount",
        )
    if data.allocations:
        total = 0
        for allocation in data.allocations:
            if allocation.amount is None:
                raise InvalidValue(
                    "Every refund allocation needs its amount.",
                    resource=refunds.REFUND,
                    field="refundAllocations",
                )
            total += positive_minor(allocation.amount, currency)
        if total != amount_minor:
            raise InvalidValue(
                f"The refund allocations total {_money(total, currency)}, not the refund's "
                f"{_money(amount_minor, currency)}.",
                resource=refunds.REFUND,
                field="refundAllocations",
            )
    elif amount_minor > amounts.unapplied_minor:
        raise InvalidValue(
            f"Payment {payment.id} has {_money(amounts.unapplied_minor, currency)} "
            "unallocated: name the invoices to take the refund from in refundAllocations.",
            resource=refunds.REFUND,
            field="refundAllocations",
        )
    origin = repo.activity_of_payment(ctx.session, ctx.tenant_id, payment.id)
    kind = MethodKind(origin.method_kind) if origin is not None else MethodKind.CHECK
    if data.channel != RefundChannel.PAYMENT_METHOD:
        kind = _CHANNEL_KIND[data.channel]
    through_gateway = (
        data.channel == RefundChannel.PAYMENT_METHOD
        and payment.payment_type != PaymentType.EXTERNAL
    )
    return CheckedRefund(payment, amount_minor, origin, kind, through_gateway)


def refund_customer(ctx: ServiceContext, data: NewCustomerRefund) -> Refund:
    """Give back part of a payment as recorded money: first from its unallocated money,
    or from the invoices named in ``data.allocations`` (which must total the amount),
    which owe it again. (Back through a gateway: ``card_collection.refund``.)"""
    checked = check_refund(ctx, data)
    if checked.through_gateway:
        raise RuleViolation(
            f"Payment {data.payment_id} was charged through a gateway: its refund goes "
            "back through it (payments.card_collection.refund).",
            resource=refunds.REFUND,
            field="method",
        )
    payment, kind = checked.payment, checked.kind
    if data.channel == RefundChannel.PAYMENT_METHOD:
        method_type = _REFUND_METHOD[kind]
    else:
        method_type = _CHANNEL_METHOD[data.channel]
    refund = refunds.refund_with_auto_unapply(
        ctx,
        payment.id,
        NewRefund(
            amount=data.amount,
            refund_type=PaymentType.EXTERNAL,
            method_type=method_type,
            reference_id=_zuora_reference(data.reference),
            unapply=data.allocations,
            source=EntrySource.FUSEBILL,
        ),
    )
    record(ctx, refund_activity(ctx, checked, refund, data, ActivityStatus.SUCCESSFUL))
    return refund


def refund_activity(
    ctx: ServiceContext,
    checked: CheckedRefund,
    refund: Refund,
    data: NewCustomerRefund,
    status: ActivityStatus,
    method: str | None = None,
) -> PaymentActivity:
    now = ctx.clock.now()
    origin = checked.origin
    return PaymentActivity(
        tenant_id=ctx.tenant_id,
        account_id=checked.payment.account_id,
        payment_id=checked.payment.id,
        refund_id=refund.id,
        status=status.value,
        transaction_type=ActivityType.REFUND.value,
        source=(origin.source if origin is not None else PaymentSource.MANUAL.value),
        method_kind=checked.kind.value,
        method=method or checked.kind.value,
        amount_minor=checked.amount_minor,
        currency=checked.payment.currency,
        reference=data.reference,
        effective_at=now,
        created_at=now,
    )


# -- reads -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CollectedPayment:
    """A payment with what Fusebill shows of it: its activity, its refunds' activities
    and its invoices' numbers."""

    view: PaymentView
    activity: PaymentActivity | None
    refund_activities: dict[int, PaymentActivity]
    invoice_numbers: dict[int, str]


def _payment(ctx: ServiceContext, payment_id: int) -> Payment:
    """A payment Fusebill shows: a failed charge (Error) made no payment there."""
    try:
        payment = payments.get_payment(ctx, payment_id)
    except NotFound:
        payment = None
    if payment is None or payment.status == PaymentStatus.ERROR:
        raise NotFound(f"Payment {payment_id} not found.", resource=PAYMENT)
    return payment


def current_status(ctx: ServiceContext, activity: PaymentActivity) -> ActivityStatus:
    """An Unknown attempt's status follows its payment once the gateway settles it."""
    status = ActivityStatus(activity.status)
    if status != ActivityStatus.UNKNOWN or activity.payment_id is None:
        return status
    payment = payments.get_payment(ctx, activity.payment_id)
    if payment.status in SETTLED_STATUSES:
        return ActivityStatus.SUCCESSFUL
    if payment.status == PaymentStatus.ERROR:
        return ActivityStatus.FAILED
    return status


def collected_payment(ctx: ServiceContext, payment_id: int) -> CollectedPayment:
    payment = _payment(ctx, payment_id)
    view = payments.view_payment(ctx, payment)
    invoice_ids = sorted({invoice_id for invoice_id, _, _ in view.applications})
    facts = repo.invoice_numbers(ctx.session, ctx.tenant_id, invoice_ids)
    return CollectedPayment(
        view=view,
        activity=repo.activity_of_payment(ctx.session, ctx.tenant_id, payment.id),
        refund_activities=repo.activities_of_refunds(
            ctx.session, ctx.tenant_id, [refund.id for refund in view.refunds]
        ),
        invoice_numbers=facts,
    )


def get_activity(ctx: ServiceContext, activity_id: int) -> PaymentActivity:
    activity = repo.get_activity(ctx.session, ctx.tenant_id, activity_id)
    if activity is None:
        raise NotFound(f"Payment activity {activity_id} not found.", resource=ACTIVITY)
    return activity


def list_activities(
    ctx: ServiceContext,
    *,
    account_id: int | None,
    offset: int,
    limit: int,
    ascending: bool = False,
) -> tuple[list[PaymentActivity], int]:
    """A page of activities, newest first by default, and how many there are."""
    if account_id is not None:
        customer(ctx, account_id)
    return repo.page_of_activities(
        ctx.session,
        ctx.tenant_id,
        account_id=account_id,
        offset=offset,
        limit=limit,
        ascending=ascending,
    )


def effective(activity: PaymentActivity | None, fallback: datetime) -> datetime:
    return activity.effective_at if activity is not None else fallback


def _zuora_reference(reference: str | None) -> str | None:
    return reference if reference is not None and len(reference) <= _ZUORA_REFERENCE else None


def _money(minor: int, currency: str) -> str:
    return f"{from_minor(minor, currency)} {currency}"
