"""Fusebill card and bank payments (``CreditCard``, ``ACH``): charged now through the
gateway by ``charging.charge_now``, and noted as a payment activity whatever the outcome.

Fusebill's model: a failed attempt creates an activity, not a payment. The charge runs in
charging's own units of work (no write lock held while the gateway answers); the request
is checked first in a unit of its own, which writes nothing, and the activity is written
in another once the outcome is known, so a declined card leaves its Failed activity even
though the request answers an error. A charge whose outcome is pending or unknown leaves
a Processing payment (applied once it settles) and an activity whose status follows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from billcycle.context import ServiceContext
from billcycle.errors import DomainError, InvalidValue, NotFound, RuleViolation
from billcycle.ids import is_ascii_digits
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger.models import EntrySource
from billcycle.money import from_minor
from billcycle.paymentmethods import repository as methods
from billcycle.paymentmethods import service as method_service
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.paymentmethods.service import Verification
from billcycle.payments import activity_repository as repo
from billcycle.payments import gateway_refunds
from billcycle.payments.activities import (
    check_reference,
    check_refund,
    customer,
    record,
    refund_activity,
)
from billcycle.payments.activity_models import PaymentActivity
from billcycle.payments.activity_statuses import (
    ActivityStatus,
    ActivityType,
    MethodKind,
    PaymentSource,
    attempt_type,
)
from billcycle.payments.allocation import auto_allocation
from billcycle.payments.charging import ChargeOutcome, ChargeRequest, charge_now
from billcycle.payments.checks import PAYMENT, positive_minor
from billcycle.payments.inputs import (
    InvoiceApplication,
    NewCollection,
    NewCustomerRefund,
    NewRefund,
)
from billcycle.payments.models import Refund
from billcycle.payments.statuses import PaymentType, RefundStatus
from billcycle.runtime import Runtime


@dataclass(frozen=True, slots=True)
class CardAttempt:
    outcome: ChargeOutcome
    activity_id: int


@dataclass(frozen=True, slots=True)
class _Checked:
    account_id: int
    amount_minor: int
    currency: str
    method_id: int
    method_text: str
    invoices: tuple[InvoiceApplication, ...]


def method_text(kind: MethodKind, method: PaymentMethod | None) -> str:
    """Fusebill's ``method``: "CreditCard (Visa ending in 1111)", "ACH (ending in 6789)"."""
    if method is None:
        return kind.value
    mask = method.card_mask or method.bank_account_mask or ""
    last = "".join(ch for ch in mask if is_ascii_digits(ch))[-4:]
    brand = f"{method.card_type} " if method.card_type else ""
    return f"{kind.value} ({brand}ending in {last})" if last else kind.value


def _check(ctx: ServiceContext, data: NewCollection) -> _Checked:
    account = customer(ctx, data.account_id)
    currency = account.currency
    amount_minor = positive_minor(data.amount, currency)
    check_reference(data.reference)
    if data.payment_method_id is None and not data.use_default_payment_method:
        raise InvalidValue(
            f"paymentMethodId is required for a {data.method_kind} payment.",
            resource=PAYMENT,
            field="paymentMethodId",
        )
    if data.payment_method_id is not None:
        method = methods.get_method(ctx.session, ctx.tenant_id, data.payment_method_id)
        if method is None or method.account_id != account.id:
            raise NotFound(
                f"Payment method {data.payment_method_id} not found for customer {account.id}.",
                resource=PAYMENT,
                field="paymentMethodId",
            )
    else:
        method = methods.default_for_account(ctx.session, ctx.tenant_id, account.id)
        if method is None:
            raise RuleViolation(
                f"Customer {account.id} has no default payment method.",
                resource=PAYMENT,
                field="useDefaultPaymentMethod",
            )
    if data.allocations and data.auto_allocate:
        raise InvalidValue(
            "Give paymentAllocations or autoAllocate, not both.",
            resource=PAYMENT,
            field="paymentAllocations",
        )
    invoices = data.allocations
    if invoices:
        facts = repo.invoice_facts(ctx.session, ctx.tenant_id, [a.invoice_id for a in invoices])
        total = 0
        for allocation in invoices:
            found = facts.get(allocation.invoice_id)
            if found is None or found[0] != account.id or found[1] != InvoiceStatus.POSTED:
                raise NotFound(
                    f"Invoice {allocation.invoice_id} not found.",
                    resource="invoice",
                    field="invoiceId",
                )
            assert allocation.amount is not None
            minor = positive_minor(allocation.amount, currency)
            if minor > found[2]:
                raise InvalidValue(
                    f"The allocation {from_minor(minor, currency)} is more than invoice "
                    f"{allocation.invoice_id}'s outstanding balance "
                    f"({from_minor(found[2], currency)}).",
                    resource=PAYMENT,
                    field="paymentAllocations",
                )
            total += minor
        if total > amount_minor:
            raise InvalidValue(
                f"The allocations ({from_minor(total, currency)}) are more than the payment "
                f"({from_minor(amount_minor, currency)}).",
                resource=PAYMENT,
                field="paymentAllocations",
            )
    elif data.auto_allocate:
        invoices = auto_allocation(ctx, account.id, amount_minor, currency, data.order)
    return _Checked(
        account.id,
        amount_minor,
        currency,
        method.id,
        method_text(data.method_kind, method),
        invoices,
    )


def charge(runtime: Runtime, tenant_id: int, data: NewCollection) -> CardAttempt:
    """Charge the customer's card or bank account now; a request refused before any
    charge raises its error and writes nothing."""
    with runtime.service_context(tenant_id) as ctx:
        checked = _check(ctx, data)
    outcome = charge_now(
        runtime,
        tenant_id,
        ChargeRequest(
            account_id=checked.account_id,
            amount_minor=checked.amount_minor,
            invoices=checked.invoices,
            payment_method_id=checked.method_id,
            source=EntrySource.FUSEBILL,
            attempt_source=f"Fusebill {data.source.value}",
        ),
    )
    if outcome.payment_id is None and outcome.error is not None:
        raise outcome.error
    with runtime.service_context(tenant_id) as ctx:
        activity = record(
            ctx,
            attempt_activity(
                ctx,
                checked.account_id,
                outcome,
                source=data.source.value,
                method_kind=data.method_kind.value,
                method=checked.method_text,
                amount_minor=checked.amount_minor,
                currency=checked.currency,
                reference=data.reference,
            ),
        )
        return CardAttempt(outcome, activity.id)


def attempt_activity(
    ctx: ServiceContext,
    account_id: int,
    outcome: ChargeOutcome,
    *,
    source: str,
    method_kind: str,
    method: str,
    amount_minor: int,
    currency: str,
    reference: str | None,
) -> PaymentActivity:
    """The payment activity of one charge attempt (not yet added): Successful, Unknown
    while the gateway's outcome is pending, or Failed, and then no payment is shown (a
    failed attempt made none, as Fusebill documents). A decline for insufficient funds
    is an ``NSF`` activity, any other attempt a ``Collect``."""
    if outcome.succeeded:
        status = ActivityStatus.SUCCESSFUL
    elif outcome.pending:
        status = ActivityStatus.UNKNOWN
    else:
        status = ActivityStatus.FAILED
    failed = status == ActivityStatus.FAILED
    now = ctx.clock.now()
    return PaymentActivity(
        tenant_id=ctx.tenant_id,
        account_id=account_id,
        payment_id=None if failed else outcome.payment_id,
        status=status.value,
        transaction_type=attempt_type(outcome.gateway_code if failed else None).value,
        source=source,
        method_kind=method_kind,
        method=method,
        amount_minor=amount_minor,
        currency=currency,
        reference=reference,
        gateway_code=outcome.gateway_code,
        gateway_message=(outcome.gateway_message or "")[:500] or None,
        effective_at=now,
        created_at=now,
    )


def verify(
    runtime: Runtime,
    tenant_id: int,
    method_id: int,
    *,
    currency: str | None = None,
    gateway_id: int | None = None,
) -> Verification:
    """Verify a payment method through its gateway (``paymentmethods.service.
    verify_method``) and note a ``Validate`` payment activity whatever the answer (its
    own unit of work, so a declined check leaves its Failed activity); a decline then
    raises the gateway's reason."""
    with runtime.service_context(tenant_id) as ctx:
        done = method_service.verify_method(
            ctx, method_id, currency=currency, gateway_id=gateway_id, refuse_decline=False
        )
        method = done.method
        kind = (
            MethodKind.CREDIT_CARD
            if method.type.startswith(MethodKind.CREDIT_CARD.value)
            else MethodKind.ACH
        )
        assert method.account_id is not None  # verify_method refuses orphans
        now = ctx.clock.now()
        record(
            ctx,
            PaymentActivity(
                tenant_id=tenant_id,
                account_id=method.account_id,
                payment_id=None,
                status=(
                    ActivityStatus.SUCCESSFUL if done.result.approved else ActivityStatus.FAILED
                ).value,
                transaction_type=ActivityType.VALIDATE.value,
                source=PaymentSource.MANUAL.value,
                method_kind=kind.value,
                method=method_text(kind, method),
                amount_minor=0,
                currency=done.result.currency or done.currency,
                reference=None,
                gateway_code=done.result.code,
                gateway_message=(done.result.message or "")[:500] or None,
                effective_at=now,
                created_at=now,
            ),
        )
    if not done.result.approved:
        raise method_service.declined_error(done.result)
    return done


def declined(attempt: CardAttempt) -> DomainError:
    """The error a declined attempt answers (its activity is already committed)."""
    outcome = attempt.outcome
    reason = outcome.gateway_message or outcome.gateway_code or "declined"
    return RuleViolation(
        f"The payment failed: {reason} (payment activity {attempt.activity_id}).",
        resource=PAYMENT,
    )


def refund(runtime: Runtime, tenant_id: int, data: NewCustomerRefund) -> tuple[Refund, int]:
    """Refund a card or bank payment back through the gateway that charged it
    (``gateway_refunds.refund_now``, its own units of work), then note the activity;
    returns the refund (Processed, Error, or Processing while the gateway's answer is
    unknown) and the activity's id."""
    with runtime.service_context(tenant_id) as ctx:
        checked = check_refund(ctx, data)
        shown = method_text(checked.kind, _method_of(ctx, checked.payment.payment_method_id))
    done = gateway_refunds.refund_now(
        runtime,
        tenant_id,
        checked.payment.id,
        NewRefund(
            amount=data.amount,
            refund_type=PaymentType.ELECTRONIC,
            reference_id=(
                data.reference
                if data.reference is not None and len(data.reference) <= 100
                else None
            ),
            unapply=data.allocations,
            source=EntrySource.FUSEBILL,
        ),
        auto_unapply=True,
    )
    status = {
        RefundStatus.PROCESSED: ActivityStatus.SUCCESSFUL,
        RefundStatus.ERROR: ActivityStatus.FAILED,
    }.get(RefundStatus(done.status), ActivityStatus.UNKNOWN)
    with runtime.service_context(tenant_id) as ctx:
        activity = record(ctx, refund_activity(ctx, checked, done, data, status, shown))
        return done, activity.id


def _method_of(ctx: ServiceContext, method_id: int | None) -> PaymentMethod | None:
    if method_id is None:
        return None
    return methods.get_method(ctx.session, ctx.tenant_id, method_id)
