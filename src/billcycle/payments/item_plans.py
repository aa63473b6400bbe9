"""Applying to an invoice's items: the one check that applying a settled payment
(``applications``) and promising a Processing one's money (``pending``) share."""

from __future__ import annotations

from collections.abc import Mapping

from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, NotFound, RuleViolation
from billcycle.invoicing import repository as invoice_repo
from billcycle.invoicing.models import Invoice
from billcycle.ledger import service as ledger
from billcycle.money import from_minor
from billcycle.payments.checks import PAYMENT, positive_minor
from billcycle.payments.inputs import InvoiceApplication


def plan_items(
    ctx: ServiceContext,
    invoice: Invoice,
    wanted: InvoiceApplication,
    currency: str,
    *,
    promised: Mapping[int | None, int] | None = None,
    available: int | None = None,
) -> list[tuple[int, int]]:
    """``(item id, minor units)`` of ``wanted.items`` on ``invoice``: every item is the
    invoice's, every amount positive and at most what its item still owes (its amount
    less what is applied to it and what ``promised`` holds for it), together at most
    ``available`` when given, and adding up to ``wanted.amount`` when that is given.
    Naming one item twice cannot take more than it owes."""

    def money(minor: int) -> str:
        return f"{from_minor(minor, currency)} {currency}"

    items = dict(invoice_repo.item_amounts(ctx.session, ctx.tenant_id, invoice.id))
    taken = dict(ledger.item_applied(ctx.session, ctx.tenant_id, invoice.id))
    for item_id, amount in (promised or {}).items():
        if item_id is not None:
            taken[item_id] = taken.get(item_id, 0) + amount
    left = available
    pieces: list[tuple[int, int]] = []
    for item in wanted.items:
        if item.invoice_item_id not in items:
            raise NotFound(
                "Invoice item {item} not found.",
                resource="invoice",
                ids={"item": item.invoice_item_id},
            )
        amount = positive_minor(item.amount, currency)
        owed = items[item.invoice_item_id] - taken.get(item.invoice_item_id, 0)
        if left is not None:
            owed = min(owed, left)
        if amount > owed:
            raise RuleViolation(
                f"The amount {money(amount)} is more than the item owes "
                f"({money(max(owed, 0))}) on invoice {invoice.invoice_number}.",
                resource=PAYMENT,
                field="amount",
            )
        taken[item.invoice_item_id] = taken.get(item.invoice_item_id, 0) + amount
        if left is not None:
            left -= amount
        pieces.append((item.invoice_item_id, amount))
    total = sum(amount for _, amount in pieces)
    if wanted.amount is not None and positive_minor(wanted.amount, currency) != total:
        raise InvalidValue(
            f"The amount for invoice {invoice.invoice_number} ({wanted.amount}) is not the "
            f"sum of its items ({money(total)}).",
            resource=PAYMENT,
            field="amount",
        )
    return pieces
