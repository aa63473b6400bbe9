"""Helpers for payment tests: posted invoices to pay, payments through the service, and
the ledger's view of every invoice and payment (the invariants the tests check)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from billcycle.context import ServiceContext
from billcycle.invoicing.models import Invoice
from billcycle.ledger import service as ledger
from billcycle.ledger.models import EntryType
from billcycle.payments import service as payments
from billcycle.payments.inputs import InvoiceApplication, NewPayment
from billcycle.payments.models import Payment
from billcycle.payments.statuses import SETTLED_STATUSES, PaymentStatus, PaymentType
from billcycle.payments.views import amounts_of
from billcycle.runtime import Runtime
from tests.invoicing.factories import (
    ItemSpec,
    make_account,
    make_invoice,
    make_subscription,
    monthly,
)


@dataclass(frozen=True)
class Billed:
    account_id: int
    invoice_ids: list[int]


def posted_invoices(
    runtime: Runtime,
    tenant_id: int,
    amounts: list[str],
    *,
    currency: str = "USD",
    status: str = "Posted",
) -> Billed:
    """One account with one posted invoice per amount (two items each: half and half,
    the first item taking the odd cent), one month each from 2025-01 (at most 12)."""
    with runtime.service_context(tenant_id) as ctx:
        account = make_account(ctx, currency=currency)
        billed = make_subscription(ctx, account, start=date(2025, 1, 1))
        ids = []
        for month, amount in enumerate(amounts):
            start = date(2025, month % 12 + 1, 1)
            total = Decimal(amount)
            second = (total / 2).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
            first = total - second
            items = [monthly(billed.charge, start, str(first))]
            if second > 0:
                # The same charge's next day: items are unique per charge and start.
                day = start + timedelta(days=1)
                items.append(ItemSpec(billed.charge, day, items[0].end, second))
            invoice = make_invoice(
                ctx,
                account,
                items,
                status=status,
                invoice_date=date(2025, month % 12 + 1, 1),
                advance_watermarks=False,
            )
            ids.append(invoice.id)
        return Billed(account.id, ids)


def pay(
    ctx: ServiceContext,
    account_id: int,
    amount: str,
    *invoices: tuple[int, str | None],
    currency: str = "USD",
    payment_type: PaymentType = PaymentType.EXTERNAL,
) -> Payment:
    return payments.create_payment(
        ctx,
        NewPayment(
            account_id=account_id,
            amount=Decimal(amount),
            currency=currency,
            payment_type=payment_type,
            invoices=tuple(
                InvoiceApplication(invoice_id, None if value is None else Decimal(value))
                for invoice_id, value in invoices
            ),
        ),
    )


def apps(*invoices: tuple[int, str | None]) -> tuple[InvoiceApplication, ...]:
    return tuple(
        InvoiceApplication(invoice_id, None if value is None else Decimal(value))
        for invoice_id, value in invoices
    )


def balance(runtime: Runtime, tenant_id: int, invoice_id: int) -> int:
    with runtime.service_context(tenant_id) as ctx:
        return ledger.invoice_balance(ctx.session, tenant_id, invoice_id)


def check_invariants(ctx: ServiceContext) -> None:
    """The ledger's promises, over every invoice and payment of the tenant:

    * invoice: amount = applied payments + credits + write-offs + balance, balance >= 0,
      and what payments applied equals what settled payments' entries say;
    * payment: amount = applied + unapplied + refunded, none negative; a payment that is
      not settled applied nothing and refunded nothing;
    * the account's credit balance is the sum of its settled payments' unapplied amounts.
    """
    session, tenant_id = ctx.session, ctx.tenant_id
    invoices = list(session.scalars(select(Invoice).where(Invoice.tenant_id == tenant_id)))
    ids = [invoice.id for invoice in invoices]
    balances = ledger.invoice_balances(session, tenant_id, ids)
    totals = ledger.applied_totals_by_type(session, tenant_id, ids)
    for invoice in invoices:
        of = totals[invoice.id]
        assert set(of.by_type) <= {EntryType.PAYMENT, EntryType.CREDIT_MEMO, EntryType.WRITE_OFF}
        assert invoice.amount_minor == (
            of.payment_minor + of.credit_memo_minor + of.write_off_minor + balances[invoice.id]
        )
        assert balances[invoice.id] >= 0, invoice.invoice_number
        assert of.payment_minor >= 0
    found = list(session.scalars(select(Payment).where(Payment.tenant_id == tenant_id)))
    amounts = amounts_of(session, found)
    credit: dict[int, int] = {}
    for payment in found:
        got = amounts[payment.id]
        assert got.amount_minor == got.applied_minor + got.unapplied_minor + got.refunded_minor
        assert got.applied_minor >= 0
        assert got.refunded_minor >= 0
        assert got.unapplied_minor >= 0
        settled = PaymentStatus(payment.status) in SETTLED_STATUSES
        if not settled:
            assert got.applied_minor == 0
            assert got.refunded_minor == 0
        if settled:
            credit[payment.account_id] = credit.get(payment.account_id, 0) + got.unapplied_minor
    accounts = {invoice.account_id for invoice in invoices} | {p.account_id for p in found}
    for account_id in accounts:
        assert ledger.account_credit_minor(session, tenant_id, account_id) == credit.get(
            account_id, 0
        )
