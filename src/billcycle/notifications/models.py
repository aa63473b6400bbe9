from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped
from billcycle.db.types import BigId, UtcDateTime


class InvoiceEmail(TenantScoped, Base):
    """One delivery attempt of an invoice to its bill-to email: the audit trail, and
    what ``resend=false`` consults (with ``invoices.emailed_at``)."""

    __tablename__ = "invoice_emails"
    __table_args__ = (Index("ix_invoice_emails_invoice", "invoice_id"),)

    invoice_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("invoices.id", ondelete="CASCADE"), nullable=False
    )
    bill_run_id: Mapped[int | None] = mapped_column(BigInteger)
    recipient: Mapped[str] = mapped_column(String(255), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)  # DeliveryStatus
    transport: Mapped[str] = mapped_column(String(10), nullable=False)  # EmailTransport
    message_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
