"""A payment's life: recorded (External: Processed at once) or awaiting its gateway
(Electronic: Processing until ``settle_payment``, which then makes the applications
asked for at creation: ``pending``), applied and unapplied
(``applications``), refunded (``refunds``), cancelled, transferred, deleted.

Every movement of its money is a ledger entry; the payment row keeps what the payment
is. Changes to one payment take its row lock and re-check under it, so of two
concurrent calls that together would spend more than it has, one is refused.
"""

from __future__ import annotations

from datetime import date

from billcycle.accounts import service as accounts
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, NotFound, RuleViolation
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.ledger import service as ledger
from billcycle.ledger.models import EntrySource, EntryType
from billcycle.money import from_minor
from billcycle.payments import pending
from billcycle.payments import repository as repo
from billcycle.payments.applications import apply_payment
from billcycle.payments.checks import (
    PAYMENT,
    account_currency,
    lock,
    positive_minor,
    require_settled,
)
from billcycle.payments.inputs import GatewayOutcome, NewPayment
from billcycle.payments.models import Payment
from billcycle.payments.statuses import (
    SETTLED_STATUSES,
    GatewayState,
    PaymentStatus,
    PaymentType,
)
from billcycle.payments.views import PaymentView, amounts_of
from billcycle.tenancy import numbers

# -- reads -----------------------------------------------------------------------------


def get_payment(ctx: ServiceContext, payment_id: int) -> Payment:
    payment = repo.get_payment(ctx.session, ctx.tenant_id, payment_id)
    if payment is None:
        raise NotFound(
            "Payment {payment} not found.", resource=PAYMENT, ids={"payment": payment_id}
        )
    return payment


def find_payment(ctx: ServiceContext, *, payment_id: int | None, number: str) -> Payment:
    """A payment by Zuora's payment key: its id (parsed by the dialect) or its number."""
    if payment_id is not None:
        found = repo.get_payment(ctx.session, ctx.tenant_id, payment_id)
        if found is not None:
            return found
    found = repo.find_payment_by_number(ctx.session, ctx.tenant_id, number)
    if found is None:
        raise NotFound(f"Payment {number} not found.", resource=PAYMENT)
    return found


def view_payment(ctx: ServiceContext, payment: Payment) -> PaymentView:
    amounts = amounts_of(ctx.session, [payment])[payment.id]
    return PaymentView(
        payment=payment,
        amounts=amounts,
        applications=ledger.payment_applications(ctx.session, ctx.tenant_id, payment.id),
        refunds=repo.refunds_of(ctx.session, ctx.tenant_id, payment.id),
    )


def account_payments(ctx: ServiceContext, account_id: int) -> list[Payment]:
    return repo.account_payments(ctx.session, ctx.tenant_id, account_id)


def list_payments(
    ctx: ServiceContext,
    *,
    account_id: int | None = None,
    status: PaymentStatus | None = None,
    offset: int = 0,
    limit: int = 40,
) -> list[PaymentView]:
    """A page of payments with their amounts (one ledger query for the page)."""
    page = repo.page_of_payments(
        ctx.session,
        ctx.tenant_id,
        account_id=account_id,
        status=status.value if status else None,
        offset=offset,
        limit=limit,
    )
    amounts = amounts_of(ctx.session, page)
    return [PaymentView(payment, amounts[payment.id], [], []) for payment in page]


# -- create and settle -----------------------------------------------------------------


def create_payment(ctx: ServiceContext, data: NewPayment) -> Payment:
    """Record a payment, and apply it to ``data.invoices`` if given.

    External money has arrived: the payment is Processed and its amount is on the account
    at once. Electronic money waits for its gateway: the payment is Processing, counts
    for nothing, and ``data.invoices`` is kept as its intended applications, made only
    once ``settle_payment`` reports it arrived (``payments.charging`` calls the gateway).
    """
    account = accounts.require_account(ctx, data.account_id)
    currency = account_currency(account, data.currency)
    amount_minor = positive_minor(data.amount, currency)
    electronic = data.payment_type == PaymentType.ELECTRONIC
    # An electronic payment's applications wait for its gateway (payments/pending.py).
    intended = (
        pending.plan(ctx, account.id, currency, amount_minor, data.invoices)
        if electronic and data.invoices
        else []
    )
    today = ctx.clock.today()
    effective = data.effective_date or today
    if electronic and effective != today:
        raise InvalidValue(
            f"The effective date of an electronic payment must be today ({today}).",
            resource=PAYMENT,
            field="effectiveDate",
        )
    _check_lengths(
        gatewayOrderId=data.gateway_order_id,
        authTransactionId=data.auth_transaction_id,
        softDescriptor=data.soft_descriptor,
        referenceId=data.reference_id,
        comment=data.comment,
    )
    now = ctx.clock.now()
    number = numbers.next_number(ctx.session, ctx.tenant_id, "payment")
    payment = Payment(
        tenant_id=ctx.tenant_id,
        account_id=account.id,
        number=number,
        amount_minor=amount_minor,
        currency=currency,
        effective_date=effective,
        payment_type=data.payment_type.value,
        status=(PaymentStatus.PROCESSING if electronic else PaymentStatus.PROCESSED).value,
        payment_method_id=data.payment_method_id,
        gateway_id=data.gateway_id,
        # The gateway's duplicate check: the payment number when the client sends none.
        gateway_order_id=data.gateway_order_id or (number if electronic else None),
        gateway_state=(GatewayState.SUBMITTED if electronic else GatewayState.NOT_SUBMITTED).value,
        auth_transaction_id=data.auth_transaction_id,
        soft_descriptor=data.soft_descriptor,
        reference_id=data.reference_id,
        comment=data.comment,
        submitted_at=now if electronic else None,
        created_at=now,
        updated_at=now,
    )
    repo.insert(ctx.session, payment)
    if not electronic:
        _receive(ctx, payment, data.source)
    if intended:
        pending.store(ctx, payment, intended)
    elif data.invoices and not electronic:
        apply_payment(ctx, payment.id, data.invoices, effective_date=effective, source=data.source)
    events.emit(ctx, EventType.PAYMENT_CREATED, payment)
    return payment


# Zuora's limits, by wire field name (the name a dialect shows in its error).
LIMITS = {
    "gatewayOrderId": 50,
    "authTransactionId": 50,
    "softDescriptor": 35,
    "referenceId": 100,
    "comment": 255,
}


def _check_lengths(**values: str | None) -> None:
    for field, value in values.items():
        limit = LIMITS[field]
        if value is not None and len(value) > limit:
            raise InvalidValue(
                f"The {field} is longer than {limit} characters.", resource=PAYMENT, field=field
            )


def _receive(ctx: ServiceContext, payment: Payment, source: EntrySource) -> None:
    ledger.record_account_entry(
        ctx,
        account_id=payment.account_id,
        payment_id=payment.id,
        entry_type=EntryType.PAYMENT_RECEIVED,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        effective_date=payment.effective_date,
        source=source.value,
        reference=payment.number,
    )


def settle_payment(
    ctx: ServiceContext,
    payment_id: int,
    outcome: GatewayOutcome,
    *,
    source: EntrySource = EntrySource.API,
) -> Payment:
    """The gateway's outcome of a Processing payment: Processed (its money arrives on the
    account, once) or Error (nothing moves). Settling an already settled payment again
    with the same outcome changes nothing, so a reconciler may ask twice."""
    payment = lock(ctx, payment_id)
    status = PaymentStatus(payment.status)
    wanted = PaymentStatus.PROCESSED if outcome.succeeded else PaymentStatus.ERROR
    if status != PaymentStatus.PROCESSING:
        if status == wanted or (wanted == PaymentStatus.PROCESSED and status in SETTLED_STATUSES):
            return payment
        raise RuleViolation(
            f"Payment {payment.number} is {payment.status}: only a processing payment can be "
            "settled.",
            resource=PAYMENT,
        )
    now = ctx.clock.now()
    payment.status = wanted.value
    payment.gateway_state = (
        outcome.gateway_state
        or (GatewayState.SETTLED if outcome.succeeded else GatewayState.FAILED_TO_SETTLE)
    ).value
    payment.gateway_response = outcome.gateway_response
    payment.gateway_response_code = outcome.gateway_response_code
    payment.updated_at = now
    if outcome.succeeded:
        payment.settled_at = now
        _receive(ctx, payment, source)
        pending.apply_intended(ctx, payment, source)
    else:
        pending.forget(ctx, payment)
    ctx.session.flush()
    events.emit(
        ctx,
        EventType.PAYMENT_PROCESSED if outcome.succeeded else EventType.PAYMENT_FAILED,
        payment,
    )
    return payment


# -- cancel, transfer, update, delete ---------------------------------------------------


def cancel_payment(
    ctx: ServiceContext, payment_id: int, *, source: EntrySource = EntrySource.API
) -> Payment:
    """Cancel a processed payment whose money is all unapplied and not settled by a
    gateway: the money leaves the account again."""
    payment = lock(ctx, payment_id)
    if payment.status == PaymentStatus.CANCELED:
        raise RuleViolation(f"Payment {payment.number} is already canceled.", resource=PAYMENT)
    require_settled(payment, "canceled")
    if payment.gateway_state == GatewayState.SETTLED or payment.settled_at is not None:
        raise RuleViolation(
            f"Payment {payment.number} is settled: refund it instead.", resource=PAYMENT
        )
    amounts = amounts_of(ctx.session, [payment])[payment.id]
    if amounts.applied_minor != 0:
        raise RuleViolation(
            f"Payment {payment.number} is applied "
            f"({from_minor(amounts.applied_minor, payment.currency)} {payment.currency}): "
            "unapply it before cancelling.",
            resource=PAYMENT,
        )
    if amounts.refunded_minor != 0:
        raise RuleViolation(
            f"Payment {payment.number} has refunds: it cannot be canceled.", resource=PAYMENT
        )
    ledger.record_account_entry(
        ctx,
        account_id=payment.account_id,
        payment_id=payment.id,
        entry_type=EntryType.PAYMENT_CANCELED,
        amount_minor=-payment.amount_minor,
        currency=payment.currency,
        effective_date=max(ctx.clock.today(), payment.effective_date),
        source=source.value,
        reference=payment.number,
    )
    now = ctx.clock.now()
    payment.status = PaymentStatus.CANCELED.value
    payment.cancelled_at = now
    payment.updated_at = now
    ctx.session.flush()
    return payment


def transfer_payment(
    ctx: ServiceContext,
    payment_id: int,
    account_id: int,
    *,
    effective_date: date | None = None,
    source: EntrySource = EntrySource.API,
) -> Payment:
    """Move an unapplied payment to another account of the tenant with its currency."""
    payment = lock(ctx, payment_id)
    require_settled(payment, "transferred")
    target = accounts.require_account(ctx, account_id)
    if target.id == payment.account_id:
        raise RuleViolation(
            f"Payment {payment.number} already belongs to account {target.account_number}.",
            resource=PAYMENT,
            field="accountId",
        )
    if target.currency != payment.currency:
        raise RuleViolation(
            f"Account {target.account_number} bills in {target.currency}, payment "
            f"{payment.number} is in {payment.currency}.",
            resource=PAYMENT,
            field="accountId",
        )
    amounts = amounts_of(ctx.session, [payment])[payment.id]
    if amounts.applied_minor != 0:
        raise RuleViolation(
            f"Payment {payment.number} is applied: unapply it before transferring.",
            resource=PAYMENT,
        )
    moving = amounts.unapplied_minor
    if moving <= 0:
        raise RuleViolation(
            f"Payment {payment.number} has no unapplied amount to transfer.", resource=PAYMENT
        )
    effective = effective_date or ctx.clock.today()
    for owner, signed in ((payment.account_id, -moving), (target.id, moving)):
        ledger.record_account_entry(
            ctx,
            account_id=owner,
            payment_id=payment.id,
            entry_type=EntryType.PAYMENT_TRANSFER,
            amount_minor=signed,
            currency=payment.currency,
            effective_date=effective,
            source=source.value,
            reference=payment.number,
        )
    payment.account_id = target.id
    payment.updated_at = ctx.clock.now()
    ctx.session.flush()
    return payment


def update_payment(
    ctx: ServiceContext,
    payment_id: int,
    *,
    comment: str | None = None,
    reference_id: str | None = None,
    gateway_state: GatewayState | None = None,
) -> Payment:
    """Zuora's payment update: comment, reference id (External only), gateway state."""
    payment = lock(ctx, payment_id)
    if reference_id is not None and payment.payment_type != PaymentType.EXTERNAL:
        raise RuleViolation(
            "Only an external payment's reference id can be changed.",
            resource=PAYMENT,
            field="referenceId",
        )
    _check_lengths(comment=comment, referenceId=reference_id)
    if comment is not None:
        payment.comment = comment
    if reference_id is not None:
        payment.reference_id = reference_id
    if gateway_state is not None:
        payment.gateway_state = gateway_state.value
    payment.updated_at = ctx.clock.now()
    ctx.session.flush()
    return payment


def delete_payment(ctx: ServiceContext, payment_id: int) -> None:
    """Delete a canceled payment. Its ledger entries stay (they net to zero): the row is
    hidden, not removed, so the ledger never names a payment that never was."""
    payment = lock(ctx, payment_id)
    if payment.status != PaymentStatus.CANCELED:
        raise RuleViolation(
            f"Payment {payment.number} is {payment.status}: only a canceled payment can be "
            "deleted.",
            resource=PAYMENT,
        )
    now = ctx.clock.now()
    payment.deleted_at = now
    payment.updated_at = now
    ctx.session.flush()
