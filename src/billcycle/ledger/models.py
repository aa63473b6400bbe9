from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped
from billcycle.db.types import BigId, UtcDateTime


class LedgerEntry(TenantScoped, Base):
    """An amount applied to an invoice, reducing its balance.

    Entries are never updated or deleted: a mistake is corrected by another entry. A
    write-off is an entry of type ``WriteOff`` (its id is the write-off's id in both
    dialects); payments, credit memos and refunds arrive as further types.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_invoice", "invoice_id"),
        Index("ix_ledger_entries_account", "tenant_id", "account_id"),
    )

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    invoice_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("invoices.id", ondelete="CASCADE")
    )
    entry_type: Mapped[str] = mapped_column(String(20), nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    effective_date: Mapped[date] = mapped_column(Date, nullable=False)
    reference: Mapped[str | None] = mapped_column(String(500))
    comment: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
