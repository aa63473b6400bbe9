from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billcycle.db.base import Base, TenantScoped, Timestamps
from billcycle.db.types import BigId


class Account(TenantScoped, Timestamps, Base):
    __tablename__ = "accounts"
    __table_args__ = (
        Index("uq_accounts_tenant_number", "tenant_id", "account_number", unique=True),
        # Bill-run selection: batch and bill cycle day within a tenant.
        Index("ix_accounts_selection", "tenant_id", "batch", "bill_cycle_day"),
        Index("ix_accounts_organization", "tenant_id", "organization_id"),
        # The console's account list sorted by name (keyset pages).
        Index("ix_accounts_tenant_name", "tenant_id", "name", "id"),
    )

    account_number: Mapped[str] = mapped_column(String(70), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    bill_cycle_day: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    batch: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=1)
    payment_term: Mapped[str] = mapped_column(String(100), nullable=False)
    auto_pay: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # AccountStatus (Zuora's words); Fusebill shows Canceled as "Cancelled".
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    crm_id: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)
    invoice_delivery_prefs_email: Mapped[bool] = mapped_column(Boolean, default=True)
    # No database FK: contacts already reference their account (ON DELETE CASCADE), and a
    # cycle of foreign keys cannot be created on SQLite. The service keeps these in step.
    bill_to_contact_id: Mapped[int | None] = mapped_column(BigId)
    sold_to_contact_id: Mapped[int | None] = mapped_column(BigId)
    # Zuora's paymentGateway: the gateway this account's methods are charged through when
    # they name none (None: the tenant's default). No database FK, as above: the payment
    # methods service checks it belongs to the tenant.
    payment_gateway_id: Mapped[int | None] = mapped_column(BigId)
    # The organization (multi-org) the account belongs to; None: none. No database FK, as
    # above: billcycle.access checks the organization belongs to the tenant.
    organization_id: Mapped[int | None] = mapped_column(BigId)

    bill_to_contact: Mapped[Contact | None] = relationship(
        primaryjoin="foreign(Account.bill_to_contact_id) == Contact.id", viewonly=True
    )
    sold_to_contact: Mapped[Contact | None] = relationship(
        primaryjoin="foreign(Account.sold_to_contact_id) == Contact.id", viewonly=True
    )


class Contact(TenantScoped, Timestamps, Base):
    __tablename__ = "contacts"

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    first_name: Mapped[str] = mapped_column(String(100), nullable=False)
    last_name: Mapped[str] = mapped_column(String(100), nullable=False)
    work_email: Mapped[str | None] = mapped_column(String(80))
    personal_email: Mapped[str | None] = mapped_column(String(80))
    work_phone: Mapped[str | None] = mapped_column(String(40))
    address1: Mapped[str | None] = mapped_column(String(255))
    address2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str | None] = mapped_column(String(50))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(64))
    county: Mapped[str | None] = mapped_column(String(32))
    tax_region: Mapped[str | None] = mapped_column(String(32))
    nickname: Mapped[str | None] = mapped_column(String(100))
    sequence: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
