"""What a payment amounts to, derived from the ledger: applied, unapplied, refunded.

Nothing here is stored on the payment row, so no amount can drift from the entries.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from billcycle.ledger import service as ledger
from billcycle.ledger.models import EntryType
from billcycle.payments.models import Payment, Refund


@dataclass(frozen=True, slots=True)
class PaymentAmounts:
    """Minor units; ``amount = applied + unapplied + refunded`` always holds."""

    amount_minor: int
    applied_minor: int
    refunded_minor: int

    @property
    def unapplied_minor(self) -> int:
        return self.amount_minor - self.applied_minor - self.refunded_minor

    @property
    def refundable_minor(self) -> int:
        """What a refund with auto-unapply can give back: all not refunded yet."""
        return self.amount_minor - self.refunded_minor


@dataclass(frozen=True, slots=True)
class PaymentView:
    payment: Payment
    amounts: PaymentAmounts
    # (invoice id, invoice item id or None, net applied minor units); a list page leaves
    # these two empty (``view_payment`` fills them).
    applications: list[tuple[int, int | None, int]]
    refunds: list[Refund]

    @property
    def credit_balance_minor(self) -> int:
        """Zuora's ``creditBalanceAmount``: what a payment moved to the account's credit
        balance. Under Invoice Settlement unapplied money stays on the payment (its
        ``unappliedAmount``) and never becomes credit balance, and billcycle has no
        legacy credit balance operations, so this is always 0."""
        return 0


def amounts_of(session: Session, payments: list[Payment]) -> dict[int, PaymentAmounts]:
    """Each payment's amounts in one query per tenant."""
    result: dict[int, PaymentAmounts] = {}
    by_tenant: dict[int, list[Payment]] = {}
    for payment in payments:
        by_tenant.setdefault(payment.tenant_id, []).append(payment)
    for tenant_id, group in by_tenant.items():
        totals = ledger.payment_totals(session, tenant_id, [p.id for p in group])
        for payment in group:
            of = totals[payment.id]
            result[payment.id] = PaymentAmounts(
                amount_minor=payment.amount_minor,
                applied_minor=of.of(EntryType.PAYMENT),
                refunded_minor=-of.of(EntryType.REFUND),
            )
    return result
