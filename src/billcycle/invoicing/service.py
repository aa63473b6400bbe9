"""Invoices after generation: lookup, posting, cancelling, writing off.

Status changes follow one pattern: the allowed source status is part of the guarded
``UPDATE`` (or re-checked under a row lock), so two concurrent calls on one invoice can
never both succeed, and the set-based forms used by bill runs cost one statement per
chunk of invoices.

Cancelling hands periods back to billing: the invoice's items are voided (the partial
unique index then ignores them) and each charge segment's billed-through watermark goes
back to where it stood before the invoice was generated (the start of its first period,
or for a credit the end of the credited span). Only the latest invoice of a charge can be
cancelled, as in Zuora: a cancel is refused while another live invoice holds a live item
of one of its charges that is newer, or a (non-credit) period starting at or after the
point the watermark would go back to, which billing would otherwise bill a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from billcycle.accounts.payment_terms import DEFAULT_PAYMENT_TERM, PaymentTerm, due_date
from billcycle.accounts.repository import get_account
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, NotFound, RuleViolation
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.invoicing import repository as repo
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger import service as ledger
from billcycle.ledger.models import EntrySource, LedgerEntry
from billcycle.money import from_minor
from billcycle.usage.billing import free_usage

__all__ = [
    "cancel_invoice",
    "cancel_invoices",
    "find_invoice",
    "get_invoice",
    "post_invoice",
    "post_invoices",
    "post_run_drafts",
    "write_off_invoice",
]

# Zuora's default reason code for a write-off's credit memo.
WRITE_OFF_REASON = "Write-off"


def _not_found(key: object) -> NotFound:
    return NotFound(f"Invoice {key} not found.", resource="invoice")


def get_invoice(ctx: ServiceContext, invoice_id: int) -> Invoice:
    invoice = repo.get_invoice(ctx.session, ctx.tenant_id, invoice_id)
    if invoice is None:
        raise _not_found(invoice_id)
    return invoice


def find_invoice(ctx: ServiceContext, *, invoice_id: int | None, number: str) -> Invoice:
    """Zuora's invoice key: the id (already parsed from hex) or the invoice number."""
    if invoice_id is not None:
        found = repo.get_invoice(ctx.session, ctx.tenant_id, invoice_id)
        if found is not None:
            return found
    found = repo.find_invoice_by_number(ctx.session, ctx.tenant_id, number)
    if found is None:
        raise _not_found(number)
    return found


def _refresh(ctx: ServiceContext, invoice: Invoice) -> Invoice:
    current = repo.reload_invoice(ctx.session, ctx.tenant_id, invoice.id)
    if current is None:
        raise _not_found(invoice.invoice_number)
    return current


# -- post ------------------------------------------------------------------------------


def _due_dates(invoice_date: date) -> dict[str, date]:
    return {term.value: due_date(invoice_date, term) for term in PaymentTerm}


def post_invoices(
    ctx: ServiceContext, invoice_ids: Sequence[int], invoice_date: date | None = None
) -> list[int]:
    """Draft -> Posted for a set of invoices (bill runs); returns the ids that moved.

    Invoices that are not drafts (already posted, cancelled) or not in the tenant are
    skipped, which makes a resumed bill-run post idempotent. With ``invoice_date`` every
    posted invoice is re-dated and its due date recomputed from its account's payment
    term, in the same statement.
    """
    ids = sorted(set(invoice_ids))
    return repo.post_drafts(
        ctx.session,
        ctx.tenant_id,
        ids,
        now=ctx.clock.now(),
        invoice_date=invoice_date,
        due_dates=_due_dates(invoice_date) if invoice_date is not None else None,
    )


def post_run_drafts(
    ctx: ServiceContext,
    bill_run_id: int,
    first_id: int,
    last_id: int,
    invoice_date: date | None = None,
) -> int:
    """Draft -> Posted for a bill run's drafts with ids in ``[first_id, last_id]`` (a
    posting chunk) in one statement; returns how many moved. As ``post_invoices``: what
    is not a draft any more is skipped, and ``invoice_date`` re-dates the posted ones."""
    return repo.post_run_drafts(
        ctx.session,
        ctx.tenant_id,
        bill_run_id,
        first_id,
        last_id,
        now=ctx.clock.now(),
        invoice_date=invoice_date,
        due_dates=_due_dates(invoice_date) if invoice_date is not None else None,
    )


def post_invoice(
    ctx: ServiceContext, invoice: Invoice, invoice_date: date | None = None
) -> Invoice:
    """Draft -> Posted; with ``invoice_date`` the invoice is re-dated and falls due per its
    account's payment term."""
    due_dates: dict[str, date] | None = None
    if invoice_date is not None:
        account = get_account(ctx.session, ctx.tenant_id, invoice.account_id)
        term = account.payment_term if account is not None else DEFAULT_PAYMENT_TERM
        due_dates = {term: due_date(invoice_date, term)}
    moved = repo.post_drafts(
        ctx.session,
        ctx.tenant_id,
        [invoice.id],
        now=ctx.clock.now(),
        invoice_date=invoice_date,
        due_dates=due_dates,
    )
    current = _refresh(ctx, invoice)
    if not moved:
        raise RuleViolation(
            f"Invoice {current.invoice_number} is {current.status}: only draft invoices "
            "can be posted.",
            resource="invoice",
        )
    events.emit(ctx, EventType.INVOICE_POSTED, current)
    return current


# -- cancel ----------------------------------------------------------------------------


def cancel_invoices(ctx: ServiceContext, invoice_ids: Sequence[int]) -> list[int]:
    """Cancel a set of draft invoices together (bill runs); returns the ids cancelled.

    Already-cancelled invoices are skipped (a resumed cancel is idempotent). Refused as a
    whole, changing nothing, when an invoice is missing or posted, or when an invoice
    outside the set is later for one of the set's charges.
    """
    return _cancel(ctx, invoice_ids, strict=False)


def cancel_invoice(ctx: ServiceContext, invoice: Invoice) -> Invoice:
    """Draft -> Canceled, handing the invoice's periods back to billing."""
    _cancel(ctx, [invoice.id], strict=True)
    current = _refresh(ctx, invoice)
    events.emit(ctx, EventType.INVOICE_CANCELLED, current)
    return current


def _cancel(ctx: ServiceContext, invoice_ids: Sequence[int], *, strict: bool) -> list[int]:
    session, tenant_id = ctx.session, ctx.tenant_id
    ids = sorted(set(invoice_ids))
    if not ids:
        return []
    repo.lock_invoices(session, tenant_id, ids, with_accounts=True)
    found = repo.statuses(session, tenant_id, ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise _not_found(", ".join(str(i) for i in missing[:10]))
    refused = [
        i
        for i in ids
        if found[i] != InvoiceStatus.DRAFT and (strict or found[i] != InvoiceStatus.CANCELED)
    ]
    if refused:
        numbers = repo.invoice_numbers(session, tenant_id, refused[:10])
        described = ", ".join(f"{numbers[i]} ({found[i]})" for i in refused[:10])
        raise RuleViolation(
            f"Only draft invoices can be canceled: {described}.", resource="invoice"
        )
    targets = [i for i in ids if found[i] == InvoiceStatus.DRAFT]
    if not targets:
        return []
    given = set(ids)
    earliest = _earliest_spans(repo.charge_spans(session, tenant_id, targets))
    blocking = [
        item
        for item in repo.possibly_later_items(session, tenant_id, targets)
        if item.invoice_id not in given and _blocks(item, earliest[item.charge_id])
    ]
    if blocking:
        first = blocking[0]
        later = sorted({item.invoice_number for item in blocking})
        raise RuleViolation(
            f"Only the latest invoice of a charge can be canceled: charge "
            f"{first.charge_number or first.charge_id} is billed on the later invoice(s) "
            f"{', '.join(later[:10])}; cancel those first.",
            resource="invoice",
        )
    watermarks = {charge_id: _restore_point(span) for charge_id, span in earliest.items()}
    now = ctx.clock.now()
    canceled = repo.cancel_drafts(session, tenant_id, targets, now=now)
    repo.void_items(session, tenant_id, canceled)
    free_usage(session, tenant_id, canceled)
    repo.restore_watermarks(session, tenant_id, watermarks, now=now)
    return canceled


def _earliest_spans(spans: Sequence[repo.ChargeSpan]) -> dict[int, repo.ChargeSpan]:
    """Per charge, what the earliest of the invoices being cancelled billed of it."""
    earliest: dict[int, repo.ChargeSpan] = {}
    for span in spans:
        seen = earliest.get(span.charge_id)
        if seen is None or span.invoice_id < seen.invoice_id:
            earliest[span.charge_id] = span
    return earliest


def _restore_point(span: repo.ChargeSpan) -> date:
    """The watermark before that invoice was generated: where its credit began (the end
    of the credited span), or else its first period's start."""
    return span.credit_end if span.credit_end is not None else span.first_start


def _blocks(item: repo.LaterItem, earliest: repo.ChargeSpan) -> bool:
    """An item elsewhere blocks the cancel if its invoice is newer (the cancelled one is
    not the latest of the charge), or if billing would start again at or before its
    period once the watermark goes back (it would be billed twice)."""
    return item.invoice_id > earliest.invoice_id or (
        not item.is_credit and item.service_start >= _restore_point(earliest)
    )


# -- write off -------------------------------------------------------------------------


def write_off_invoice(
    ctx: ServiceContext,
    invoice: Invoice,
    *,
    amount: Decimal | None = None,
    comment: str | None = None,
    memo_date: date | None = None,
    reason_code: str | None = None,
    item_ids: Sequence[int] | None = None,
    source: str = EntrySource.API,
) -> LedgerEntry:
    """Zuora's write-off: the whole balance of a posted invoice, through the ledger.

    ``amount`` defaults to the balance and must equal it when given; ``item_ids``, when
    given, must list every item of the invoice (Zuora's rule for its ``items``).
    """
    if item_ids is not None:
        own = {item_id for item_id, _ in repo.item_amounts(ctx.session, ctx.tenant_id, invoice.id)}
        given = set(item_ids)
        unknown = sorted(given - own)
        if unknown:
            raise InvalidValue(
                f"Invoice item(s) {', '.join(map(str, unknown[:10]))} do not belong to "
                f"invoice {invoice.invoice_number}.",
                resource="invoice_item",
            )
        if given != own:
            raise RuleViolation(
                "When items are given, every item of the invoice must be listed: the whole "
                "balance is written off.",
                resource="invoice",
            )
    if amount is None:
        balance = ledger.invoice_balance(ctx.session, ctx.tenant_id, invoice.id)
        amount = from_minor(balance, invoice.currency)
    return ledger.apply_write_off(
        ctx,
        invoice,
        amount,
        reference=reason_code or WRITE_OFF_REASON,
        comment=comment,
        source=source,
        effective_date=memo_date,
    )
