"""Applying a payment to invoices, and taking applications back.

An application is a ``Payment`` ledger entry on the invoice (per invoice item when the
client names items); an unapplication is the same entry negative. Both run under the
payment's lock, then each invoice's (``ledger.apply_to_invoice``), so neither the
payment nor an invoice can be over-applied by concurrent calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, NotFound, RuleViolation
from billcycle.invoicing import repository as invoice_repo
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger import service as ledger
from billcycle.ledger.models import EntrySource, EntryType
from billcycle.money import from_minor
from billcycle.payments.checks import PAYMENT, lock, positive_minor, require_settled
from billcycle.payments.inputs import InvoiceApplication
from billcycle.payments.item_plans import plan_items
from billcycle.payments.models import Payment
from billcycle.payments.views import amounts_of


@dataclass(frozen=True, slots=True)
class Piece:
    """One ledger entry to write: an amount on an invoice (or one of its items)."""

    invoice: Invoice
    invoice_item_id: int | None
    amount_minor: int


def apply_payment(
    ctx: ServiceContext,
    payment_id: int,
    invoices: Sequence[InvoiceApplication],
    *,
    effective_date: date | None = None,
    source: EntrySource = EntrySource.API,
) -> Payment:
    """Apply part of a processed payment's unapplied amount to posted invoices of its
    account: never more than it has unapplied, nor more than an invoice (or an item) owes."""
    payment = lock(ctx, payment_id)
    require_settled(payment, "applied")
    if not invoices:
        raise InvalidValue("Name at least one invoice to apply to.", resource=PAYMENT)
    effective = _effective(ctx, payment, effective_date)
    pieces: list[Piece] = []
    for wanted in invoices:
        invoice = _invoice_of(ctx, payment, wanted.invoice_id)
        if invoice.status != InvoiceStatus.POSTED:
            raise RuleViolation(
                f"Invoice {invoice.invoice_number} is {invoice.status}: only posted invoices "
                "take payments.",
                resource=PAYMENT,
            )
        pieces.extend(_apply_pieces(ctx, payment, invoice, wanted))
    total = sum(piece.amount_minor for piece in pieces)
    unapplied = amounts_of(ctx.session, [payment])[payment.id].unapplied_minor
    if total > unapplied:
        raise RuleViolation(
            f"The amount to apply ({_money(total, payment)}) is more than payment "
            f"{payment.number} has unapplied ({_money(unapplied, payment)}).",
            resource=PAYMENT,
            field="amount",
        )
    for piece in pieces:
        ledger.apply_to_invoice(
            ctx,
            piece.invoice,
            EntryType.PAYMENT,
            piece.amount_minor,
            reference=payment.number,
            comment=None,
            source=source.value,
            effective_date=max(effective, piece.invoice.invoice_date),
            payment_id=payment.id,
            invoice_item_id=piece.invoice_item_id,
        )
    payment.updated_at = ctx.clock.now()
    ctx.session.flush()
    return payment


def unapply_payment(
    ctx: ServiceContext,
    payment_id: int,
    invoices: Sequence[InvoiceApplication],
    *,
    effective_date: date | None = None,
    source: EntrySource = EntrySource.API,
) -> Payment:
    """Take back part of what a payment applied: the invoices owe it again and the money
    is unapplied on the payment."""
    payment = lock(ctx, payment_id)
    require_settled(payment, "unapplied")
    if not invoices:
        raise InvalidValue("Name at least one invoice to unapply from.", resource=PAYMENT)
    effective = _effective(ctx, payment, effective_date)
    applied = _applied(ctx, payment)
    pieces: list[Piece] = []
    for wanted in invoices:
        invoice = _invoice_of(ctx, payment, wanted.invoice_id)
        pieces.extend(_unapply_pieces(payment, invoice, wanted, applied))
    write_unapplications(ctx, payment, pieces, effective, source)
    return payment


def write_unapplications(
    ctx: ServiceContext,
    payment: Payment,
    pieces: Sequence[Piece],
    effective: date,
    source: EntrySource,
) -> None:
    for piece in pieces:
        ledger.reverse_on_invoice(
            ctx,
            piece.invoice,
            EntryType.PAYMENT,
            piece.amount_minor,
            payment_id=payment.id,
            invoice_item_id=piece.invoice_item_id,
            source=source.value,
            effective_date=effective,
        )
    payment.updated_at = ctx.clock.now()
    ctx.session.flush()


def newest_first(ctx: ServiceContext, payment: Payment, needed_minor: int) -> list[Piece]:
    """Pieces that unapply ``needed_minor`` from the payment's newest applications (the
    highest invoice ids first): what a refund with auto-unapply takes back."""
    pieces: list[Piece] = []
    remaining = needed_minor
    applied = _applied(ctx, payment)
    for (invoice_id, item_id), net in sorted(applied.items(), key=_newest, reverse=True):
        if remaining <= 0:
            break
        taken = min(net, remaining)
        invoice = _invoice_of(ctx, payment, invoice_id)
        pieces.append(Piece(invoice, item_id, taken))
        remaining -= taken
    return pieces


def unapply_pieces(
    ctx: ServiceContext, payment: Payment, invoices: Sequence[InvoiceApplication]
) -> list[Piece]:
    """Pieces for explicit unapplications (refund with auto-unapply naming invoices)."""
    applied = _applied(ctx, payment)
    pieces: list[Piece] = []
    for wanted in invoices:
        invoice = _invoice_of(ctx, payment, wanted.invoice_id)
        pieces.extend(_unapply_pieces(payment, invoice, wanted, applied))
    return pieces


# -- helpers ---------------------------------------------------------------------------


def _newest(entry: tuple[tuple[int, int | None], int]) -> tuple[int, int]:
    (invoice_id, item_id), _ = entry
    return invoice_id, item_id or 0


def _money(minor: int, payment: Payment) -> str:
    return f"{from_minor(minor, payment.currency)} {payment.currency}"


def _effective(ctx: ServiceContext, payment: Payment, wanted: date | None) -> date:
    effective = wanted or max(ctx.clock.today(), payment.effective_date)
    if effective < payment.effective_date:
        raise InvalidValue(
            f"The effective date {effective} is before payment {payment.number}'s effective "
            f"date {payment.effective_date}.",
            resource=PAYMENT,
            field="effectiveDate",
        )
    return effective


def _invoice_of(ctx: ServiceContext, payment: Payment, invoice_id: int) -> Invoice:
    """The invoice, if it is the payment's account's (another account's or tenant's
    invoice is not found)."""
    invoice = invoice_repo.get_invoice(ctx.session, ctx.tenant_id, invoice_id)
    if invoice is None or invoice.account_id != payment.account_id:
        raise NotFound(
            "Invoice {invoice} not found.", resource="invoice", ids={"invoice": invoice_id}
        )
    return invoice


def _applied(ctx: ServiceContext, payment: Payment) -> dict[tuple[int, int | None], int]:
    return {
        (invoice_id, item_id): net
        for invoice_id, item_id, net in ledger.payment_applications(
            ctx.session, ctx.tenant_id, payment.id
        )
    }


def _apply_pieces(
    ctx: ServiceContext, payment: Payment, invoice: Invoice, wanted: InvoiceApplication
) -> list[Piece]:
    currency = payment.currency
    if not wanted.items:
        if wanted.amount is None:
            balance = ledger.invoice_balance(ctx.session, ctx.tenant_id, invoice.id)
            if balance <= 0:
                raise RuleViolation(
                    f"Invoice {invoice.invoice_number} has a zero balance: there is nothing "
                    "to apply.",
                    resource=PAYMENT,
                )
            return [Piece(invoice, None, balance)]
        return [Piece(invoice, None, positive_minor(wanted.amount, currency))]
    return [
        Piece(invoice, item_id, amount)
        for item_id, amount in plan_items(ctx, invoice, wanted, currency)
    ]


def _unapply_pieces(
    payment: Payment,
    invoice: Invoice,
    wanted: InvoiceApplication,
    applied: dict[tuple[int, int | None], int],
) -> list[Piece]:
    """Pieces taking back ``wanted`` from what ``applied`` records; ``applied`` is spent
    as pieces are planned, so naming one invoice twice cannot take back more."""
    currency = payment.currency
    on_invoice = {key: net for key, net in applied.items() if key[0] == invoice.id and net > 0}
    total = sum(on_invoice.values())
    pieces: list[Piece] = []
    if wanted.items:
        for item in wanted.items:
            amount = positive_minor(item.amount, currency)
            key = (invoice.id, item.invoice_item_id)
            if amount > applied.get(key, 0):
                raise RuleViolation(
                    f"Payment {payment.number} applied {_money(applied.get(key, 0), payment)} "
                    f"to that item of invoice {invoice.invoice_number}, less than "
                    f"{_money(amount, payment)}.",
                    resource=PAYMENT,
                    field="amount",
                )
            applied[key] -= amount
            pieces.append(Piece(invoice, item.invoice_item_id, amount))
        _check_sum(wanted, pieces, payment, invoice)
        return pieces
    amount = total if wanted.amount is None else positive_minor(wanted.amount, currency)
    if amount <= 0 or amount > total:
        raise RuleViolation(
            f"Payment {payment.number} applied {_money(total, payment)} to invoice "
            f"{invoice.invoice_number}: it cannot unapply {_money(amount, payment)}.",
            resource=PAYMENT,
            field="amount",
        )
    # The invoice-level application first, then items in order.
    remaining = amount
    for held in sorted(on_invoice, key=lambda k: (k[1] is not None, k[1] or 0)):
        if remaining == 0:
            break
        taken = min(on_invoice[held], remaining)
        applied[held] -= taken
        remaining -= taken
        pieces.append(Piece(invoice, held[1], taken))
    return pieces


def _check_sum(
    wanted: InvoiceApplication, pieces: Sequence[Piece], payment: Payment, invoice: Invoice
) -> None:
    if wanted.amount is None:
        return
    total = sum(piece.amount_minor for piece in pieces)
    if positive_minor(wanted.amount, payment.currency) != total:
        raise InvalidValue(
            f"The amount for invoice {invoice.invoice_number} ({wanted.amount}) is not the "
            f"sum of its items ({_money(total, payment)}).",
            resource=PAYMENT,
            field="amount",
        )
