from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Date, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped
from billcycle.db.types import BigId, UtcDateTime


class EntryType(StrEnum):
    """Kinds of ledger entries (``ledger_entries.entry_type``). On an invoice, an entry
    reduces its balance by its amount: a payment's application is a positive ``Payment``,
    its unapplication a negative one. Entries without an invoice move a payment's money on
    its account (``payment_id`` set): received (+), cancelled (-), transferred (- on the
    old account, + on the new), refunded (``Refund``, -)."""

    WRITE_OFF = "WriteOff"
    PAYMENT = "Payment"
    CREDIT_MEMO = "CreditMemo"
    REFUND = "Refund"
    PAYMENT_RECEIVED = "PaymentReceived"
    PAYMENT_CANCELED = "PaymentCanceled"
    PAYMENT_TRANSFER = "PaymentTransfer"


class EntrySource(StrEnum):
    """Which door an entry came in by (``ledger_entries.source``)."""

    API = "API"
    FUSEBILL = "Fusebill"


class LedgerEntry(TenantScoped, Base):
    """An amount applied to an invoice, reducing its balance.

    Entries are never updated or deleted: a mistake is corrected by another entry. A
    write-off is an entry of type ``WriteOff`` (its id is the write-off's id in both
    dialects); payments, credit memos and refunds arrive as further types.

    No column is a foreign key. The tenant, account and invoice are the invoice's,
    written only by the ledger from the invoice it read; deleting an account deletes its
    entries first, and deleting a bill run's invoices deletes theirs
    (``billruns.repository.delete_run``). A key check per inserted row cost as much as
    the insert itself when a bulk write-off wrote a million entries, and ~2.5-5 us of
    PostgreSQL's CPU a payment in a payment run for the invoice's (migration
    ``0046_pgbook_ledger_invoice_fk``).
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        # With the tenant in the same index, "this tenant's entries of this invoice" is
        # one index range; with the tenant only in the account index, PostgreSQL without
        # fresh statistics ANDed both and read every entry of the tenant per invoice.
        # Only entries on an invoice: every reader names one (``invoice_id = ?`` implies
        # IS NOT NULL on both databases); a payment's PaymentReceived and the account's
        # other entries on no invoice wrote an entry nothing read (migration 0042).
        Index(
            "ix_ledger_entries_invoice",
            "invoice_id",
            "tenant_id",
            sqlite_where=text("invoice_id IS NOT NULL"),
            postgresql_where=text("invoice_id IS NOT NULL"),
        ),
        Index("ix_ledger_entries_account", "tenant_id", "account_id"),
        Index("ix_ledger_entries_payment", "payment_id", "tenant_id"),
    )

    tenant_id: Mapped[int] = mapped_column(BigId, nullable=False)
    account_id: Mapped[int] = mapped_column(BigId, nullable=False)
    invoice_id: Mapped[int | None] = mapped_column(BigId)
    # The payment whose money this entry moves, and the invoice item a payment was applied
    # to (Zuora's per-item applications); no foreign keys, for the reason above.
    payment_id: Mapped[int | None] = mapped_column(BigId)
    invoice_item_id: Mapped[int | None] = mapped_column(BigId)
    entry_type: Mapped[str] = mapped_column(String(20), nullable=False)  # EntryType
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    effective_date: Mapped[date] = mapped_column(Date, nullable=False)
    reference: Mapped[str | None] = mapped_column(String(500))
    comment: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20), nullable=False)  # EntrySource
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
