"""Auto-allocation: a payment spread over its customer's open invoices, oldest first
(or newest first), each paid as far as the money goes.

``spread`` is the pure rule (a bulk job runs it for a million payments over balances it
read in one query per chunk); ``auto_allocation`` reads one customer's open invoices for
a single payment.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableSequence

from billcycle.context import ServiceContext
from billcycle.money import from_minor
from billcycle.payments import activity_repository as repo
from billcycle.payments.activity_statuses import AllocationOrder
from billcycle.payments.inputs import InvoiceApplication

# An open invoice as allocation sees it: [invoice id, balance in minor units]; the
# balance is a list item so a caller can spend it across several payments.
OpenInvoice = MutableSequence[int]


def spread(
    amount_minor: int, invoices: Iterable[OpenInvoice], order: AllocationOrder
) -> list[tuple[int, int]]:
    """``(invoice id, minor units)`` paid by ``amount_minor`` over ``invoices`` (given
    oldest first), in ``order``. The balances in ``invoices`` are reduced by what is
    paid, so the next payment of the same customer sees what is left."""
    ordered = list(invoices)
    if order == AllocationOrder.NEWEST_TO_OLDEST:
        ordered.reverse()
    left = amount_minor
    pieces: list[tuple[int, int]] = []
    for invoice in ordered:
        if left <= 0:
            break
        balance = invoice[1]
        if balance <= 0:
            continue
        paid = min(balance, left)
        invoice[1] = balance - paid
        left -= paid
        pieces.append((invoice[0], paid))
    return pieces


def auto_allocation(
    ctx: ServiceContext,
    account_id: int,
    amount_minor: int,
    currency: str,
    order: AllocationOrder,
) -> tuple[InvoiceApplication, ...]:
    """The applications of an auto-allocated payment of the account (none: it has no
    open invoice, and the payment stays unallocated)."""
    rows = repo.open_invoices(ctx.session, ctx.tenant_id, [account_id])
    open_ = [[invoice_id, balance] for _, invoice_id, balance, _ in rows]
    return tuple(
        InvoiceApplication(invoice_id, from_minor(paid, currency))
        for invoice_id, paid in spread(amount_minor, open_, order)
    )
