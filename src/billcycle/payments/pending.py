"""Applications an electronic payment waits to make: asked for when it is created,
applied only once its gateway settles it.

While the payment is Processing nothing is on the invoices (killbill #625: a pending
payment counted as paid); the intention is kept in ``payment_pending_applications``
(or, for a payment run's payment of one invoice, on the payment row itself:
``pending_invoice_id``) and checked like an application (posted invoices of the
payment's account, never more than owed, counting what other Processing payments
already intend). At settlement each
intention is applied as far as the invoice still owes (it may have been paid meanwhile);
what cannot be applied stays unapplied on the payment, as a credit. A failed payment's
intentions are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from billcycle.context import ServiceContext
from billcycle.errors import NotFound, RuleViolation
from billcycle.invoicing import repository as invoice_repo
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger import service as ledger
from billcycle.ledger.models import EntrySource, EntryType
from billcycle.money import from_minor
from billcycle.payments import pending_repository as repo
from billcycle.payments.checks import PAYMENT, positive_minor
from billcycle.payments.inputs import InvoiceApplication
from billcycle.payments.item_plans import plan_items
from billcycle.payments.models import Payment, PendingApplication


def plan(
    ctx: ServiceContext,
    account_id: int,
    currency: str,
    amount_minor: int,
    invoices: Sequence[InvoiceApplication],
) -> list[tuple[int, int | None, int]]:
    """``(invoice_id, invoice_item_id, amount_minor)`` rows for ``invoices``, checked:
    refuses (changing nothing) what an application would refuse."""
    rows: list[tuple[int, int | None, int]] = []
    for wanted in invoices:
        invoice = invoice_repo.get_invoice(ctx.session, ctx.tenant_id, wanted.invoice_id)
        if invoice is None or invoice.account_id != account_id:
            raise NotFound(
                "Invoice {invoice} not found.",
                resource="invoice",
                ids={"invoice": wanted.invoice_id},
            )
        if invoice.status != InvoiceStatus.POSTED:
            raise RuleViolation(
                f"Invoice {invoice.invoice_number} is {invoice.status}: only posted invoices "
                "take payments.",
                resource=PAYMENT,
            )
        rows.extend(_plan_one(ctx, invoice, wanted, currency, rows))
    total = sum(amount for _, _, amount in rows)
    if total > amount_minor:
        raise RuleViolation(
            f"The amount to apply ({from_minor(total, currency)} {currency}) is more than the "
            f"payment ({from_minor(amount_minor, currency)} {currency}).",
            resource=PAYMENT,
            field="amount",
        )
    return rows


def _plan_one(
    ctx: ServiceContext,
    invoice: Invoice,
    wanted: InvoiceApplication,
    currency: str,
    planned: list[tuple[int, int | None, int]],
) -> list[tuple[int, int | None, int]]:
    promised = repo.pending_on_invoice(ctx.session, ctx.tenant_id, invoice.id)
    for invoice_id, item_id, amount in planned:
        if invoice_id == invoice.id:
            promised[item_id] = promised.get(item_id, 0) + amount
    balance = ledger.invoice_balance(ctx.session, ctx.tenant_id, invoice.id)
    available = balance - sum(promised.values())
    if not wanted.items:
        amount = available if wanted.amount is None else positive_minor(wanted.amount, currency)
        if amount <= 0 or amount > available:
            raise RuleViolation(
                f"Invoice {invoice.invoice_number} owes {from_minor(max(available, 0), currency)} "
                f"{currency} not already being paid: it cannot take "
                f"{from_minor(max(amount, 0), currency)}.",
                resource=PAYMENT,
                field="amount",
            )
        return [(invoice.id, None, amount)]
    return [
        (invoice.id, item_id, amount)
        for item_id, amount in plan_items(
            ctx, invoice, wanted, currency, promised=promised, available=available
        )
    ]


def store(
    ctx: ServiceContext, payment: Payment, rows: Sequence[tuple[int, int | None, int]]
) -> None:
    repo.add(
        ctx.session,
        [
            PendingApplication(
                tenant_id=ctx.tenant_id,
                payment_id=payment.id,
                invoice_id=invoice_id,
                invoice_item_id=item_id,
                amount_minor=amount,
            )
            for invoice_id, item_id, amount in rows
        ],
    )


def intended(ctx: ServiceContext, payment_id: int) -> list[PendingApplication]:
    return repo.of_payment(ctx.session, ctx.tenant_id, payment_id)


def invoices_awaiting_settlement(ctx: ServiceContext, invoice_ids: Sequence[int]) -> set[int]:
    """Those of ``invoice_ids`` a Processing payment intends to pay: not to be collected
    again until it settles."""
    return repo.invoices_with_pending(ctx.session, ctx.tenant_id, invoice_ids)


def apply_intended(ctx: ServiceContext, payment: Payment, source: EntrySource) -> None:
    """Apply a just-settled payment's intentions (the caller holds the payment's lock and
    wrote its money onto the account), each as far as the invoice still owes; then forget
    them, so settling is done once."""
    applied = 0
    effective = max(ctx.clock.today(), payment.effective_date)
    for row in repo.of_payment(ctx.session, ctx.tenant_id, payment.id):
        invoice = invoice_repo.get_invoice(ctx.session, ctx.tenant_id, row.invoice_id)
        if invoice is None or invoice.status != InvoiceStatus.POSTED:
            continue
        owed = ledger.invoice_balance(ctx.session, ctx.tenant_id, invoice.id)
        if row.invoice_item_id is not None:
            items = dict(invoice_repo.item_amounts(ctx.session, ctx.tenant_id, invoice.id))
            done = ledger.item_applied(ctx.session, ctx.tenant_id, invoice.id)
            owed = min(owed, items.get(row.invoice_item_id, 0) - done.get(row.invoice_item_id, 0))
        amount = min(row.amount_minor, owed, payment.amount_minor - applied)
        if amount <= 0:
            continue
        ledger.apply_to_invoice(
            ctx,
            invoice,
            EntryType.PAYMENT,
            amount,
            reference=payment.number,
            comment=None,
            source=source.value,
            effective_date=max(effective, invoice.invoice_date),
            payment_id=payment.id,
            invoice_item_id=row.invoice_item_id,
        )
        applied += amount
    forget(ctx, payment)


def forget(ctx: ServiceContext, payment: Payment) -> None:
    """Drop a settled or failed payment's intentions, both shapes (rows, and the one a
    payment run's payment holds on its own row)."""
    repo.drop(ctx.session, ctx.tenant_id, payment.id)
    # The statement above cleared the row; the loaded object says so too, so a later
    # flush of this payment never writes the old value back.
    payment.pending_invoice_id = None
