"""Tables of invoice documents: a tenant's template settings, stored files, and the
rendered versions of each invoice's PDF."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped, Timestamps
from billcycle.db.types import BigId, UtcDateTime


class TenantInvoiceSettings(TenantScoped, Timestamps, Base):
    """A tenant's invoice template: what its invoices show besides the invoice itself,
    and, when the tenant uploaded one, its own Jinja2 template (None: the default)."""

    __tablename__ = "tenant_invoice_settings"
    __table_args__ = (Index("uq_tenant_invoice_settings_tenant", "tenant_id", unique=True),)

    # A data: URI, or a path on the server's disk (read and inlined when rendering).
    invoice_logo_url: Mapped[str | None] = mapped_column(Text)
    invoice_seller_address: Mapped[str | None] = mapped_column(Text)
    invoice_footer: Mapped[str | None] = mapped_column(Text)
    invoice_payment_instructions: Mapped[str | None] = mapped_column(Text)
    # The terms printed on invoices (None: each account's own payment term).
    payment_terms_days: Mapped[int | None] = mapped_column(Integer)
    # A CLDR locale for amounts and dates (None: en_US).
    invoice_locale: Mapped[str | None] = mapped_column(String(20))
    invoice_template: Mapped[str | None] = mapped_column(Text)


class StoredFile(TenantScoped, Base):
    """A file the tenant's clients download (Zuora's ``GET /v1/files/{file-id}``).
    ``invoice_id`` is the invoice it belongs to, if any: deleting the invoice (a draft of
    a deleted account) deletes its files."""

    __tablename__ = "stored_files"
    __table_args__ = (
        Index("ix_stored_files_tenant", "tenant_id"),
        Index("ix_stored_files_invoice", "invoice_id"),
    )

    invoice_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("invoices.id", ondelete="CASCADE")
    )

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class InvoiceFile(TenantScoped, Base):
    """One rendered version of an invoice's PDF. ``digest`` is the SHA-256 of the HTML it
    was rendered from: a new version is rendered only when what the invoice shows changed
    (status, amounts, balance, the tenant's template or settings)."""

    __tablename__ = "invoice_files"
    __table_args__ = (
        Index("uq_invoice_files_version", "invoice_id", "version_number", unique=True),
        Index("ix_invoice_files_tenant_invoice", "tenant_id", "invoice_id"),
    )

    invoice_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("invoices.id", ondelete="CASCADE"), nullable=False
    )
    version_number: Mapped[int] = mapped_column(Integer, nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    file_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("stored_files.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
