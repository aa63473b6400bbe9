from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billcycle.db.base import Base, TenantScoped, Timestamps
from billcycle.db.types import BigId, ExactDecimal, UtcDateTime


class Invoice(TenantScoped, Timestamps, Base):
    """Amounts are integer minor units of ``currency``.

    The balance is not stored: it is ``amount_minor`` less what the accounts-receivable
    ledger applied to the invoice (payments, credits, write-offs).

    ``tenant_id`` carries no foreign key (the account's does): bill runs insert a million
    invoices at a time and a redundant key check per row costs more than the insert.
    """

    __tablename__ = "invoices"
    __table_args__ = (
        Index("uq_invoices_tenant_number", "tenant_id", "invoice_number", unique=True),
        Index("ix_invoices_account_date", "tenant_id", "account_id", "invoice_date"),
        Index("ix_invoices_bill_run", "bill_run_id"),
        # The console's sort orders (keyset pages: the last page costs what the first does).
        Index("ix_invoices_tenant_date", "tenant_id", "invoice_date", "id"),
        Index("ix_invoices_tenant_due", "tenant_id", "due_date", "id"),
        Index("ix_invoices_tenant_amount", "tenant_id", "amount_minor", "id"),
    )

    tenant_id: Mapped[int] = mapped_column(BigId, nullable=False)
    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    invoice_number: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # Draft | Posted | Canceled
    invoice_date: Mapped[date] = mapped_column(Date, nullable=False)
    due_date: Mapped[date] = mapped_column(Date, nullable=False)
    target_date: Mapped[date] = mapped_column(Date, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax_amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # Set by bill runs; the foreign key arrives with the bill-run tables.
    bill_run_id: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(20), nullable=False)  # InvoiceSource
    comments: Mapped[str | None] = mapped_column(Text)
    posted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    canceled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    emailed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    items: Mapped[list[InvoiceItem]] = relationship(
        back_populates="invoice", order_by="InvoiceItem.id", cascade="all, delete-orphan"
    )


class InvoiceItem(TenantScoped, Base):
    """One rated period of one charge segment.

    The partial unique index is the last line of defence against double billing: a
    charge's period can be on at most one live (not cancelled) invoice.

    Only ``invoice_id`` is a foreign key. The tenant, subscription and charge columns are
    written by invoice generation alone, from rows it has just read in the same
    transaction, and deleting an account deletes its items first; on PostgreSQL the three
    key checks per row made inserting an item five times slower (docs/benchmarks.md).
    """

    __tablename__ = "invoice_items"
    __table_args__ = (
        Index(
            "uq_invoice_items_billed_period",
            "subscription_charge_id",
            "service_start",
            "is_credit",
            unique=True,
            sqlite_where=text("NOT voided"),
            postgresql_where=text("NOT voided"),
        ),
        Index("ix_invoice_items_invoice", "invoice_id"),
    )

    tenant_id: Mapped[int] = mapped_column(BigId, nullable=False)
    invoice_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("invoices.id", ondelete="CASCADE"), nullable=False
    )
    subscription_id: Mapped[int] = mapped_column(BigId)
    subscription_charge_id: Mapped[int] = mapped_column(BigId, nullable=False)
    charge_name: Mapped[str] = mapped_column(String(100), nullable=False)
    charge_type: Mapped[str] = mapped_column(String(20), nullable=False)
    service_start: Mapped[date] = mapped_column(Date, nullable=False)
    service_end: Mapped[date] = mapped_column(Date, nullable=False)  # exclusive
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal, nullable=False)
    unit_price: Mapped[Decimal] = mapped_column(ExactDecimal, nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    is_credit: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Set when the invoice is cancelled: the period becomes billable again.
    voided: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    invoice: Mapped[Invoice] = relationship(back_populates="items")
