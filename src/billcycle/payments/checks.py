"""Checks every payment operation starts with: the payment's lock, amounts, status."""

from __future__ import annotations

from decimal import Decimal

from billcycle.accounts.models import Account
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, NotFound, RuleViolation
from billcycle.money import normalize_currency, to_minor
from billcycle.payments import repository as repo
from billcycle.payments.models import Payment
from billcycle.payments.statuses import SETTLED_STATUSES, PaymentStatus

PAYMENT = "payment"


def positive_minor(amount: Decimal, currency: str, *, field: str = "amount") -> int:
    """A client's amount as minor units: more than zero, no digits below the currency's
    minor unit (billcycle.money's rule), or InvalidValue."""
    if not amount.is_finite() or amount <= 0:
        raise InvalidValue(
            f"The {field} must be greater than zero, not {amount}.", resource=PAYMENT, field=field
        )
    try:
        return to_minor(amount, currency)
    except InvalidValue as exc:
        raise InvalidValue(exc.message, resource=PAYMENT, field=field) from exc


def account_currency(account: Account, given: str) -> str:
    """The payment's currency: a known ISO code, and the account's (an account is billed
    and paid in one currency)."""
    try:
        currency = normalize_currency(given)
    except InvalidValue as exc:
        raise InvalidValue(exc.message, resource=PAYMENT, field="currency") from exc
    if currency != account.currency:
        raise InvalidValue(
            f"The payment's currency {currency} is not the account's currency {account.currency}.",
            resource=PAYMENT,
            field="currency",
        )
    return currency


def lock(ctx: ServiceContext, payment_id: int) -> Payment:
    """The payment under its row lock, re-read: every check that follows sees the state
    no concurrent change can alter before this unit of work ends."""
    payment = repo.lock_payment(ctx.session, ctx.tenant_id, payment_id)
    if payment is None:
        raise NotFound(
            "Payment {payment} not found.", resource=PAYMENT, ids={"payment": payment_id}
        )
    return payment


def require_settled(payment: Payment, action: str) -> None:
    if PaymentStatus(payment.status) not in SETTLED_STATUSES:
        raise RuleViolation(
            f"Payment {payment.number} is {payment.status}: only a processed payment can be "
            f"{action}.",
            resource=PAYMENT,
        )
