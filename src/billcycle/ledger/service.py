"""The accounts-receivable ledger: amounts applied to invoices, append-only.

One rule for every kind of entry: an entry reduces its invoice's balance by
``amount_minor`` (an entry that raises the balance, such as reversing an applied payment,
carries a negative amount), it is written under a lock on the invoice, and the balance is
re-checked under that lock so two concurrent applications can never over-apply.
Write-offs and payments (``billcycle.payments``) use :func:`apply_to_invoice`; a payment's
unapplication is :func:`reverse_on_invoice`, and its money on the account (received,
refunded, cancelled, transferred) is :func:`record_account_entry`, on no invoice. The
totals below group by type, so the dialects' balance fields need no change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from billcycle.context import ServiceContext
from billcycle.errors import ErrorCode, InvalidValue, NotFound, RuleViolation
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.invoicing import repository as invoice_repo
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger import repository as repo
from billcycle.ledger.models import EntryType, LedgerEntry
from billcycle.money import from_minor, to_minor


@dataclass(frozen=True, slots=True)
class AppliedTotals:
    """What the ledger applied to one invoice, per entry type, in minor units."""

    by_type: Mapping[str, int] = field(default_factory=dict)

    def of(self, entry_type: str) -> int:
        return self.by_type.get(entry_type, 0)

    @property
    def write_off_minor(self) -> int:
        return self.of(EntryType.WRITE_OFF)

    @property
    def payment_minor(self) -> int:
        return self.of(EntryType.PAYMENT)

    @property
    def credit_memo_minor(self) -> int:
        return self.of(EntryType.CREDIT_MEMO)

    @property
    def refund_minor(self) -> int:
        return self.of(EntryType.REFUND)

    @property
    def total_minor(self) -> int:
        return sum(self.by_type.values())


# -- reads -----------------------------------------------------------------------------


def invoice_balances(
    session: Session, tenant_id: int, invoice_ids: Sequence[int]
) -> dict[int, int]:
    """Balance (minor units) of each invoice found in the tenant; others are left out."""
    return repo.balances(session, tenant_id, invoice_ids)


def invoice_balance(session: Session, tenant_id: int, invoice_id: int) -> int:
    balance = repo.balances(session, tenant_id, [invoice_id]).get(invoice_id)
    if balance is None:
        raise NotFound(f"Invoice {invoice_id} not found.", resource="invoice")
    return balance


def applied_totals_by_type(
    session: Session, tenant_id: int, invoice_ids: Sequence[int]
) -> dict[int, AppliedTotals]:
    """Per invoice id asked for: totals per entry type (empty totals when none)."""
    grouped: dict[int, dict[str, int]] = {invoice_id: {} for invoice_id in invoice_ids}
    for invoice_id, entry_type, total in repo.totals_by_type(session, tenant_id, invoice_ids):
        grouped.setdefault(invoice_id, {})[entry_type] = total
    return {invoice_id: AppliedTotals(by_type) for invoice_id, by_type in grouped.items()}


def entries_of(ctx: ServiceContext, invoice: Invoice) -> list[LedgerEntry]:
    return repo.entries_of(ctx.session, ctx.tenant_id, invoice.id)


def get_entry(ctx: ServiceContext, entry_id: int) -> LedgerEntry:
    entry = repo.get_entry(ctx.session, ctx.tenant_id, entry_id)
    if entry is None:
        raise NotFound(f"Ledger entry {entry_id} not found.", resource="invoice")
    return entry


# -- writes ----------------------------------------------------------------------------


def apply_to_invoice(
    ctx: ServiceContext,
    invoice: Invoice,
    entry_type: EntryType,
    amount_minor: int,
    *,
    reference: str | None,
    comment: str | None,
    source: str,
    effective_date: date | None = None,
    full_balance_only: bool = False,
    payment_id: int | None = None,
    invoice_item_id: int | None = None,
) -> LedgerEntry:
    """Apply a positive ``amount_minor`` to a posted invoice, never beyond its balance.

    The common path for every entry that settles an invoice (payments, credit memos,
    write-offs); taking a payment's application back is :func:`reverse_on_invoice`.

    Locks the invoice row and re-reads its status and balance under the lock: of two
    concurrent applications that together exceed the balance, the second one sees the
    first one's entry and is refused.
    """
    session = ctx.session
    invoice_repo.lock_invoices(session, ctx.tenant_id, [invoice.id], with_accounts=False)
    current = invoice_repo.reload_invoice(session, ctx.tenant_id, invoice.id)
    if current is None:
        raise NotFound(f"Invoice {invoice.id} not found.", resource="invoice")
    number = current.invoice_number
    if current.status != InvoiceStatus.POSTED:
        raise RuleViolation(
            f"Invoice {number} is {current.status}: only posted invoices can take a "
            f"{entry_type.value}.",
            resource="invoice",
        )
    balance = invoice_balance(session, ctx.tenant_id, current.id)
    currency = current.currency
    if balance == 0:
        raise RuleViolation(
            f"Invoice {number} has a zero balance: there is nothing to apply.",
            resource="invoice",
        )
    if amount_minor <= 0:
        raise InvalidValue(
            f"The amount must be greater than zero, not {from_minor(amount_minor, currency)}.",
            resource="invoice",
            field="amount",
        )
    if full_balance_only and amount_minor != balance:
        raise RuleViolation(
            f"A {entry_type.value} must cover the full balance of invoice {number} "
            f"({from_minor(balance, currency)} {currency}), not "
            f"{from_minor(amount_minor, currency)}.",
            resource="invoice",
            field="amount",
            code=ErrorCode.AMOUNT_NOT_FULL_BALANCE,
        )
    if amount_minor > balance:
        raise RuleViolation(
            f"The amount {from_minor(amount_minor, currency)} exceeds the balance of invoice "
            f"{number} ({from_minor(balance, currency)} {currency}).",
            resource="invoice",
            field="amount",
            code=ErrorCode.AMOUNT_EXCEEDS_BALANCE,
        )
    # Dated today by default, but never before the invoice it settles.
    effective = effective_date or max(ctx.clock.today(), current.invoice_date)
    if effective < current.invoice_date:
        raise InvalidValue(
            f"The effective date {effective} is before the invoice date "
            f"{current.invoice_date} of invoice {number}.",
            resource="invoice",
        )
    return _record(
        ctx,
        account_id=current.account_id,
        invoice_id=current.id,
        payment_id=payment_id,
        invoice_item_id=invoice_item_id,
        entry_type=entry_type,
        amount_minor=amount_minor,
        currency=currency,
        effective_date=effective,
        source=source,
        reference=reference,
        comment=comment,
    )


def reverse_on_invoice(
    ctx: ServiceContext,
    invoice: Invoice,
    entry_type: EntryType,
    amount_minor: int,
    *,
    payment_id: int,
    invoice_item_id: int | None,
    source: str,
    effective_date: date | None = None,
) -> LedgerEntry:
    """Give back ``amount_minor`` of what a payment applied to an invoice (a negative
    entry of the same type): the invoice owes it again.

    The caller holds the payment's lock and has checked that the payment applied at
    least this much there; the invoice is locked too, as for any entry that moves it.
    """
    invoice_repo.lock_invoices(ctx.session, ctx.tenant_id, [invoice.id], with_accounts=False)
    today = ctx.clock.today()
    return _record(
        ctx,
        account_id=invoice.account_id,
        invoice_id=invoice.id,
        payment_id=payment_id,
        invoice_item_id=invoice_item_id,
        entry_type=entry_type,
        amount_minor=-amount_minor,
        currency=invoice.currency,
        effective_date=max(effective_date or today, invoice.invoice_date),
        source=source,
    )


def record_account_entry(
    ctx: ServiceContext,
    *,
    account_id: int,
    payment_id: int,
    entry_type: EntryType,
    amount_minor: int,
    currency: str,
    effective_date: date,
    source: str,
    reference: str | None = None,
) -> LedgerEntry:
    """An entry on no invoice: a payment's money arriving on, leaving or moving between
    accounts. Signed by the caller (money in positive)."""
    return _record(
        ctx,
        account_id=account_id,
        invoice_id=None,
        payment_id=payment_id,
        invoice_item_id=None,
        entry_type=entry_type,
        amount_minor=amount_minor,
        currency=currency,
        effective_date=effective_date,
        source=source,
        reference=reference,
    )


def _record(
    ctx: ServiceContext,
    *,
    account_id: int,
    invoice_id: int | None,
    payment_id: int | None,
    invoice_item_id: int | None,
    entry_type: EntryType,
    amount_minor: int,
    currency: str,
    effective_date: date,
    source: str,
    reference: str | None = None,
    comment: str | None = None,
) -> LedgerEntry:
    """Append one entry, stamped with the business clock (the one place entries are made)."""
    entry = LedgerEntry(
        tenant_id=ctx.tenant_id,
        account_id=account_id,
        invoice_id=invoice_id,
        payment_id=payment_id,
        invoice_item_id=invoice_item_id,
        entry_type=entry_type.value,
        amount_minor=amount_minor,
        currency=currency,
        effective_date=effective_date,
        reference=reference,
        comment=comment,
        source=source,
        created_at=ctx.clock.now(),
    )
    return repo.insert_entry(ctx.session, entry)


@dataclass(frozen=True, slots=True)
class NewEntry:
    account_id: int
    payment_id: int | None
    invoice_id: int | None
    entry_type: EntryType
    amount_minor: int
    currency: str
    effective_date: date
    source: str
    reference: str | None = None


def record_entries(ctx: ServiceContext, entries: Sequence[NewEntry]) -> None:
    """Many entries in one statement, stamped as :func:`_record` stamps one: for a batch
    whose checks its caller made under the rows' locks (payment runs settling a chunk)."""
    now = ctx.clock.now()
    repo.insert_entries(
        ctx.session,
        [
            {
                "tenant_id": ctx.tenant_id,
                "account_id": e.account_id,
                "invoice_id": e.invoice_id,
                "payment_id": e.payment_id,
                "invoice_item_id": None,
                "entry_type": e.entry_type.value,
                "amount_minor": e.amount_minor,
                "currency": e.currency,
                "effective_date": e.effective_date,
                "reference": e.reference,
                "comment": None,
                "source": e.source,
                "created_at": now,
            }
            for e in entries
        ],
    )


def payment_totals(
    session: Session, tenant_id: int, payment_ids: Sequence[int]
) -> dict[int, AppliedTotals]:
    """Per payment id asked for: the net of its entries per type (empty when none)."""
    grouped: dict[int, dict[str, int]] = {payment_id: {} for payment_id in payment_ids}
    for payment_id, entry_type, total in repo.totals_by_payment(session, tenant_id, payment_ids):
        grouped.setdefault(payment_id, {})[entry_type] = total
    return {payment_id: AppliedTotals(by_type) for payment_id, by_type in grouped.items()}


def payment_applications(
    session: Session, tenant_id: int, payment_id: int
) -> list[tuple[int, int | None, int]]:
    """``(invoice_id, invoice_item_id, net applied)`` of a payment, where the net is not 0."""
    return repo.payment_applications(session, tenant_id, payment_id)


def item_applied(session: Session, tenant_id: int, invoice_id: int) -> dict[int, int]:
    """What the ledger applied to each item of an invoice (items with entries only)."""
    return repo.item_applied(session, tenant_id, invoice_id)


def account_credit_minor(session: Session, tenant_id: int, account_id: int) -> int:
    """The account's unapplied payment money: what its payments brought in, less what was
    applied, refunded, cancelled or transferred away."""
    return repo.account_credit_minor(session, tenant_id, account_id)


def write_off_full_balances(
    ctx: ServiceContext,
    candidates: Select[Any],
    *,
    reference: str | None,
    source: str,
) -> dict[int, int]:
    """Write off the whole balance of every posted invoice with a positive balance among
    ``candidates`` (a query over ``invoices``: see ``repository.insert_full_balances``),
    in one statement; returns invoice id -> write-off (entry) id. Invoices that are not
    posted or owe nothing are left out.

    The set-based path for bulk write-offs. The balances are read by the statement that
    writes the entries, so the caller must already hold the invoices' row locks
    (``invoicing.repository.lock_invoices`` or an equivalent ``FOR UPDATE``; on SQLite,
    the database's write lock): nothing can be applied to them in between.
    """
    return repo.insert_full_balances(
        ctx.session,
        ctx.tenant_id,
        candidates,
        entry_type=EntryType.WRITE_OFF.value,
        status=InvoiceStatus.POSTED.value,
        # Dated today, but never before the invoice it settles (as apply_to_invoice).
        effective_from=ctx.clock.today(),
        reference=reference,
        source=source,
        now=ctx.clock.now(),
    )


def apply_write_off(
    ctx: ServiceContext,
    invoice: Invoice,
    amount: Decimal,
    *,
    reference: str | None,
    comment: str | None,
    source: str,
    effective_date: date | None = None,
) -> LedgerEntry:
    """Write off the full outstanding balance of a posted invoice.

    The entry's id is the write-off's id in both dialects (Zuora shows it as the credit
    memo the write-off created). A write-off cannot be undone: entries are never removed.
    """
    amount_minor = to_minor(amount, invoice.currency)
    entry = apply_to_invoice(
        ctx,
        invoice,
        EntryType.WRITE_OFF,
        amount_minor,
        reference=reference,
        comment=comment,
        source=source,
        effective_date=effective_date,
        full_balance_only=True,
    )
    events.emit(
        ctx,
        EventType.INVOICE_WRITTEN_OFF,
        invoice,
        write_off={
            "entry_id": entry.id,
            "amount_minor": amount_minor,
            "amount": str(amount),
            "reference": reference,
            "comment": comment,
        },
    )
    return entry
