"""Emailing posted invoices to their accounts' bill-to contacts (bill runs' ``autoEmail``
and ``POST /v1/bill-runs/{key}/emails``).

Delivery guarantee: at least once, never lost. A message is handed to the transport
first; its ``invoice_emails`` row and ``invoices.emailed_at`` are written afterwards, in
the caller's transaction. A crash (or rollback) after a send but before the commit
forgets that the message went out, so a retry with ``resend=False`` sends it again; the
opposite order could record as sent a message that never left. Nothing makes an SMTP
handover and a database commit atomic, so the window is narrowed instead: callers pass
modest batches (:data:`BATCH_SIZE`) and commit after each one, so a crash resends at
most one batch's worth.

With ``resend=False`` the batch's invoices are locked first (the lock posting and
payments take), then read: two callers emailing the same invoices at once send each
one once, the second seeing the first's ``emailed_at`` after it commits. The lock is
held while the batch is sent, another reason to keep batches small (on SQLite it is the
database's single writer lock).

Which invoices are emailed, checked in this order (each invoice counts once):
not a posted invoice of this tenant (drafts, cancelled, unknown or another tenant's ids)
-> already emailed (``resend=False``) -> zero amount (``skip_zero_amount``, Zuora's
``noEmailForZeroAmountInvoice``) -> the account's invoice delivery preference "email" is
off (Zuora's ``invoiceDeliveryPrefsEmail``; ``honor_delivery_preference=False`` ignores
it) -> the bill-to contact has neither a work nor a personal email.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from billcycle.context import ServiceContext
from billcycle.documents import service as documents
from billcycle.errors import DomainError
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.invoicing import repository as invoice_repo
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger import service as ledger
from billcycle.notifications import repository as repo
from billcycle.notifications.invoice_email import (
    DEFAULT_LOCALE,
    DEFAULT_SENDER,
    InvoiceDocument,
    InvoiceLine,
    Recipient,
    compose_invoice_email,
)
from billcycle.notifications.mailer import DeliveryError, Mailer, TransportUnavailable
from billcycle.notifications.models import InvoiceEmail
from billcycle.notifications.statuses import DeliveryStatus

__all__ = [
    "BATCH_SIZE",
    "EmailOutcome",
    "deliveries_of",
    "email_invoices",
]

# Invoices per call (and per commit) that callers should use: see the module docstring.
BATCH_SIZE = 100
# Longest error text kept per attempt.
MAX_ERROR = 2_000


@dataclass
class EmailOutcome:
    """Counts per invoice; ``errors`` maps a failed invoice's id to why."""

    sent: int = 0
    skipped_not_posted: int = 0
    skipped_already_emailed: int = 0
    skipped_zero_amount: int = 0
    skipped_opted_out: int = 0
    skipped_no_email: int = 0
    failed: int = 0
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def skipped(self) -> int:
        return (
            self.skipped_not_posted
            + self.skipped_already_emailed
            + self.skipped_zero_amount
            + self.skipped_opted_out
            + self.skipped_no_email
        )

    def merge(self, other: EmailOutcome) -> None:
        """Add another batch's outcome (a bill run sums its batches)."""
        self.sent += other.sent
        self.skipped_not_posted += other.skipped_not_posted
        self.skipped_already_emailed += other.skipped_already_emailed
        self.skipped_zero_amount += other.skipped_zero_amount
        self.skipped_opted_out += other.skipped_opted_out
        self.skipped_no_email += other.skipped_no_email
        self.failed += other.failed
        self.errors.update(other.errors)


@dataclass(frozen=True, slots=True)
class _Delivery:
    invoice: repo.InvoiceRow
    bill_to: repo.BillToRow
    recipient: Recipient


def email_invoices(
    ctx: ServiceContext,
    invoice_ids: Sequence[int],
    mailer: Mailer,
    *,
    resend: bool,
    skip_zero_amount: bool,
    bill_run_id: int | None = None,
    sender: str = DEFAULT_SENDER,
    locale: str = DEFAULT_LOCALE,
    honor_delivery_preference: bool = True,
) -> EmailOutcome:
    """Email each posted invoice of ``invoice_ids`` to its bill-to contact; flushes, never
    commits. Every attempt is recorded (``Sent`` or ``Failed`` with the error); a sent
    invoice gets ``emailed_at``. A failed one does not, so ``resend=False`` retries it."""
    session, tenant_id = ctx.session, ctx.tenant_id
    outcome = EmailOutcome()
    ids = sorted(set(invoice_ids))
    if not ids:
        return outcome
    # The PDFs to attach are rendered before the invoices are locked (on SQLite the lock
    # is the database's one writer lock); each is used only if its invoice still shows
    # the same once locked.
    pdfs = documents.prerender_pdfs(
        ctx,
        [
            i.id
            for i in repo.invoices(session, tenant_id, ids)
            if i.status == InvoiceStatus.POSTED and (resend or i.emailed_at is None)
        ],
    )
    if not resend:
        invoice_repo.lock_invoices(session, tenant_id, ids, with_accounts=False)
    candidates: list[repo.InvoiceRow] = []
    found = repo.invoices(session, tenant_id, ids)
    outcome.skipped_not_posted += len(ids) - len(found)
    for invoice in found:
        if invoice.status != InvoiceStatus.POSTED:
            outcome.skipped_not_posted += 1
        elif not resend and invoice.emailed_at is not None:
            outcome.skipped_already_emailed += 1
        elif skip_zero_amount and invoice.amount_minor == 0:
            outcome.skipped_zero_amount += 1
        else:
            candidates.append(invoice)
    if not candidates:
        return outcome

    bill_tos = repo.bill_to_contacts(session, tenant_id, {i.account_id for i in candidates})
    deliveries: list[_Delivery] = []
    for invoice in candidates:
        bill_to = bill_tos[invoice.account_id]
        recipient = _recipient(bill_to)
        if honor_delivery_preference and not bill_to.wants_email:
            outcome.skipped_opted_out += 1
        elif recipient is None:
            outcome.skipped_no_email += 1
        else:
            deliveries.append(_Delivery(invoice, bill_to, recipient))
    if not deliveries:
        return outcome

    chosen = [d.invoice.id for d in deliveries]
    items = repo.items_by_invoice(session, tenant_id, chosen)
    balances = ledger.invoice_balances(session, tenant_id, chosen)
    tenant_name = repo.tenant_name(session, tenant_id)
    now = ctx.clock.now()
    records: list[dict[str, Any]] = []
    emailed: list[int] = []
    unavailable: str | None = None
    try:
        mailer.open()
    except TransportUnavailable as exc:
        unavailable = str(exc)
    try:
        for delivery in deliveries:
            invoice = delivery.invoice
            message_id: str | None = None
            error: str | None = None
            if unavailable is not None:
                error = f"Not attempted: {unavailable}"
            else:
                try:
                    document = _document(
                        tenant_name, delivery, items[invoice.id], balances[invoice.id]
                    )
                    message = compose_invoice_email(
                        document, delivery.recipient, sent_at=now, sender=sender, locale=locale
                    )
                    _attach_pdf(ctx, message, invoice.id, pdfs)
                    message_id = mailer.send(message)
                except TransportUnavailable as exc:
                    unavailable = error = str(exc)
                except (DeliveryError, ValueError) as exc:
                    error = str(exc) or type(exc).__name__
                except DomainError as exc:
                    error = f"The invoice document cannot be rendered: {exc.message}"
            if error is None:
                outcome.sent += 1
                emailed.append(invoice.id)
            else:
                outcome.failed += 1
                outcome.errors[invoice.id] = error
            records.append(
                {
                    "tenant_id": tenant_id,
                    "invoice_id": invoice.id,
                    "bill_run_id": bill_run_id,
                    "recipient": delivery.recipient.address[:255],
                    "status": (
                        DeliveryStatus.SENT if error is None else DeliveryStatus.FAILED
                    ).value,
                    "transport": str(mailer.transport),
                    "message_id": message_id[:255] if message_id else None,
                    "error": error[:MAX_ERROR] if error else None,
                    "created_at": now,
                }
            )
    finally:
        mailer.close()
    repo.insert_deliveries(session, records)
    repo.mark_emailed(session, tenant_id, emailed, now=now)
    sent = set(emailed)
    events.emit_many(
        ctx,
        EventType.INVOICE_EMAILED,
        [
            {
                **dataclasses.asdict(d.invoice),
                "emailed_at": now,
                "recipient": d.recipient.address,
            }
            for d in deliveries
            if d.invoice.id in sent
        ],
    )
    session.flush()
    return outcome


def deliveries_of(ctx: ServiceContext, invoice_id: int) -> list[InvoiceEmail]:
    """The recorded attempts for one invoice, oldest first."""
    return repo.deliveries_of(ctx.session, ctx.tenant_id, invoice_id)


def _attach_pdf(
    ctx: ServiceContext,
    message: EmailMessage,
    invoice_id: int,
    pdfs: Mapping[int, documents.RenderedPdf],
) -> None:
    """The invoice's PDF (billcycle.documents: the stored version, or the one rendered
    before the lock, or rendered now; stored) as the message's attachment; the message
    becomes multipart/mixed."""
    pdf = documents.invoice_pdf(ctx, invoice_id, prerendered=pdfs)
    message.add_attachment(
        pdf.content, maintype="application", subtype="pdf", filename=pdf.file_name
    )


def _recipient(bill_to: repo.BillToRow) -> Recipient | None:
    """The bill-to contact's work email, else its personal email."""
    for address in (bill_to.work_email, bill_to.personal_email):
        if address and address.strip():
            name = " ".join(p for p in (bill_to.first_name, bill_to.last_name) if p)
            return Recipient(address=address.strip(), name=name or None)
    return None


def _document(
    tenant_name: str, delivery: _Delivery, items: Sequence[repo.ItemRow], balance_minor: int
) -> InvoiceDocument:
    invoice, bill_to = delivery.invoice, delivery.bill_to
    return InvoiceDocument(
        tenant_name=tenant_name,
        account_number=bill_to.account_number,
        account_name=bill_to.account_name,
        invoice_number=invoice.invoice_number,
        invoice_date=invoice.invoice_date,
        due_date=invoice.due_date,
        currency=invoice.currency,
        amount_minor=invoice.amount_minor,
        tax_amount_minor=invoice.tax_amount_minor,
        balance_minor=balance_minor,
        lines=tuple(
            InvoiceLine(
                charge_name=item.charge_name,
                service_start=item.service_start,
                service_end=item.service_end,
                quantity=item.quantity,
                amount_minor=item.amount_minor,
                is_credit=item.is_credit,
            )
            for item in items
        ),
    )
