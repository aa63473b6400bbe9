"""Refunds: money of a payment given back to the customer.

A refund spends the payment's unapplied amount (a ``Refund`` ledger entry, negative, on
the account). The auto-unapply variant first takes back from invoices what the refund
needs beyond the unapplied amount (named invoices, or the newest applications).
"""

from __future__ import annotations

from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, NotFound, RuleViolation
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.ledger import service as ledger
from billcycle.ledger.models import EntrySource, EntryType
from billcycle.money import from_minor
from billcycle.payments import repository as repo
from billcycle.payments.applications import newest_first, unapply_pieces, write_unapplications
from billcycle.payments.checks import lock, positive_minor, require_settled
from billcycle.payments.inputs import NewRefund
from billcycle.payments.models import Payment, Refund
from billcycle.payments.statuses import PaymentType, RefundStatus
from billcycle.payments.views import amounts_of
from billcycle.tenancy import numbers

REFUND = "refund"


def get_refund(ctx: ServiceContext, refund_id: int) -> Refund:
    refund = repo.get_refund(ctx.session, ctx.tenant_id, refund_id)
    if refund is None:
        raise NotFound("Refund {refund} not found.", resource=REFUND, ids={"refund": refund_id})
    return refund


def find_refund(ctx: ServiceContext, *, refund_id: int | None, number: str) -> Refund:
    """A refund by Zuora's refund key: its id (parsed by the dialect) or its number."""
    if refund_id is not None:
        found = repo.get_refund(ctx.session, ctx.tenant_id, refund_id)
        if found is not None:
            return found
    found = repo.find_refund_by_number(ctx.session, ctx.tenant_id, number)
    if found is None:
        raise NotFound(f"Refund {number} not found.", resource=REFUND)
    return found


def update_refund(
    ctx: ServiceContext,
    refund_id: int,
    *,
    comment: str | None = None,
    reason_code: str | None = None,
    reference_id: str | None = None,
) -> Refund:
    """Zuora's refund update: the refund's notes only (comment, reason code, reference
    id); its money never changes here. Under the payment's lock, as every refund change."""
    refund = get_refund(ctx, refund_id)
    lock(ctx, refund.payment_id)
    refund = get_refund(ctx, refund_id)
    _check_texts(comment=comment, reasonCode=reason_code, referenceId=reference_id)
    if comment is not None:
        refund.comment = comment
    if reason_code is not None:
        refund.reason_code = reason_code
    if reference_id is not None:
        refund.reference_id = reference_id
    refund.updated_at = ctx.clock.now()
    ctx.session.flush()
    return refund


def delete_refund(ctx: ServiceContext, refund_id: int) -> None:
    """Delete a canceled refund, as Zuora allows (only those): a processed one must be
    canceled first, so the money is back on the payment before the refund goes."""
    refund = get_refund(ctx, refund_id)
    lock(ctx, refund.payment_id)
    refund = get_refund(ctx, refund_id)
    if refund.status != RefundStatus.CANCELED:
        raise RuleViolation(
            f"Refund {refund.number} is {refund.status}: only a canceled refund can be deleted.",
            resource=REFUND,
        )
    repo.delete_refund(ctx.session, ctx.tenant_id, refund.id)


def refund_payment(ctx: ServiceContext, payment_id: int, data: NewRefund) -> Refund:
    """Refund from the payment's unapplied amount only (Zuora's ``totalAmount`` <= the
    unapplied amount: applied money needs an unapply first, or the auto-unapply call)."""
    payment = lock(ctx, payment_id)
    require_settled(payment, "refunded")
    amount = positive_minor(data.amount, payment.currency, field="totalAmount")
    _check(payment, data)
    unapplied = amounts_of(ctx.session, [payment])[payment.id].unapplied_minor
    if amount > unapplied:
        raise RuleViolation(
            f"The refund {_money(amount, payment)} is more than payment {payment.number} "
            f"has unapplied ({_money(unapplied, payment)}).",
            resource=REFUND,
            field="totalAmount",
        )
    return _write(ctx, payment, amount, data)


def refund_with_auto_unapply(ctx: ServiceContext, payment_id: int, data: NewRefund) -> Refund:
    """Refund up to everything not refunded yet, unapplying first what the unapplied
    amount does not cover: the invoices named in ``data.unapply``, or else the newest
    applications."""
    payment = lock(ctx, payment_id)
    require_settled(payment, "refunded")
    amount = positive_minor(data.amount, payment.currency, field="totalAmount")
    _check(payment, data)
    amounts = amounts_of(ctx.session, [payment])[payment.id]
    if amount > amounts.refundable_minor:
        raise RuleViolation(
            f"The refund {_money(amount, payment)} is more than payment {payment.number} can "
            f"refund ({_money(amounts.refundable_minor, payment)}).",
            resource=REFUND,
            field="totalAmount",
        )
    needed = amount - amounts.unapplied_minor
    if data.unapply:
        pieces = unapply_pieces(ctx, payment, data.unapply)
        freed = sum(piece.amount_minor for piece in pieces)
        if freed < needed:
            raise RuleViolation(
                f"Unapplying {_money(freed, payment)} leaves too little unapplied for a "
                f"refund of {_money(amount, payment)}.",
                resource=REFUND,
                field="invoices",
            )
    else:
        pieces = newest_first(ctx, payment, needed) if needed > 0 else []
    refund_date = data.refund_date or ctx.clock.today()
    write_unapplications(
        ctx, payment, pieces, max(refund_date, payment.effective_date), data.source
    )
    return _write(ctx, payment, amount, data)


def cancel_refund(ctx: ServiceContext, refund_id: int) -> Refund:
    """Cancel a processed external refund (Zuora's ``PUT /v1/refunds/{key}/cancel``): the
    money is back on the payment, unapplied. Under the payment's lock, as every change
    to its money."""
    refund = get_refund(ctx, refund_id)
    payment = lock(ctx, refund.payment_id)
    refund = get_refund(ctx, refund_id)
    if refund.status != RefundStatus.PROCESSED:
        raise RuleViolation(
            f"Refund {refund.number} is {refund.status}: only a processed refund can be canceled.",
            resource=REFUND,
        )
    if refund.refund_type != PaymentType.EXTERNAL:
        raise RuleViolation(
            f"Refund {refund.number} went through a gateway: it cannot be canceled.",
            resource=REFUND,
        )
    return_to_payment(ctx, payment, refund)
    now = ctx.clock.now()
    refund.status = RefundStatus.CANCELED.value
    refund.updated_at = now
    payment.updated_at = now
    ctx.session.flush()
    events.emit(ctx, EventType.REFUND_CANCELLED, refund)
    return refund


def return_to_payment(ctx: ServiceContext, payment: Payment, refund: Refund) -> None:
    """The refund's money back on its payment, unapplied (a canceled refund, or a
    gateway refund that failed: the money never left)."""
    ledger.record_account_entry(
        ctx,
        account_id=payment.account_id,
        payment_id=payment.id,
        entry_type=EntryType.REFUND,
        amount_minor=refund.amount_minor,
        currency=refund.currency,
        effective_date=max(ctx.clock.today(), refund.refund_date),
        source=EntrySource.API.value,
        reference=refund.number,
    )


def _check(payment: Payment, data: NewRefund) -> None:
    if data.refund_type == PaymentType.EXTERNAL and data.method_type is None:
        raise InvalidValue(
            "An external refund needs its methodType.", resource=REFUND, field="methodType"
        )
    if (
        data.refund_type == PaymentType.ELECTRONIC
        and payment.payment_type != PaymentType.ELECTRONIC
    ):
        raise RuleViolation(
            f"Payment {payment.number} is external: its refund is external too.",
            resource=REFUND,
            field="type",
        )
    _check_texts(reasonCode=data.reason_code, referenceId=data.reference_id, comment=data.comment)


# A refund's notes and their limits, by wire field name.
TEXT_LIMITS = {"reasonCode": 100, "referenceId": 100, "comment": 255}


def _check_texts(**values: str | None) -> None:
    for field, value in values.items():
        limit = TEXT_LIMITS[field]
        if value is not None and len(value) > limit:
            raise InvalidValue(
                f"The {field} is longer than {limit} characters.", resource=REFUND, field=field
            )


def _write(ctx: ServiceContext, payment: Payment, amount: int, data: NewRefund) -> Refund:
    now = ctx.clock.now()
    refund_date = data.refund_date or ctx.clock.today()
    if refund_date < payment.effective_date:
        raise InvalidValue(
            f"The refund date {refund_date} is before payment {payment.number}'s effective "
            f"date {payment.effective_date}.",
            resource=REFUND,
            field="refundDate",
        )
    refund = Refund(
        tenant_id=ctx.tenant_id,
        payment_id=payment.id,
        account_id=payment.account_id,
        number=numbers.next_number(ctx.session, ctx.tenant_id, "refund"),
        amount_minor=amount,
        currency=payment.currency,
        refund_type=data.refund_type.value,
        method_type=data.method_type.value if data.method_type else None,
        # Gateway refunds arrive with the gateways; until then every refund is recorded
        # money, and its amount leaves the payment at once (never spendable twice).
        status=RefundStatus.PROCESSED.value,
        refund_date=refund_date,
        reason_code=data.reason_code,
        reference_id=data.reference_id,
        comment=data.comment,
        refund_transaction_type=(
            data.refund_transaction_type.value if data.refund_transaction_type else None
        ),
        created_at=now,
        updated_at=now,
    )
    repo.insert(ctx.session, refund)
    ledger.record_account_entry(
        ctx,
        account_id=payment.account_id,
        payment_id=payment.id,
        entry_type=EntryType.REFUND,
        amount_minor=-amount,
        currency=payment.currency,
        effective_date=refund_date,
        source=data.source.value,
        reference=refund.number,
    )
    payment.updated_at = now
    ctx.session.flush()
    events.emit(ctx, EventType.REFUND_CREATED, refund)
    events.emit(ctx, EventType.PAYMENT_REFUNDED, payment, refund_id=refund.id)
    return refund


def _money(minor: int, payment: Payment) -> str:
    return f"{from_minor(minor, payment.currency)} {payment.currency}"
