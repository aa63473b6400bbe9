"""Payment activities: every attempt to collect or refund money, whatever its outcome.

A successful collection points at the payment it created, a refund at its refund; a
failed attempt points at nothing (no payment exists for it). Amounts are what was
attempted; what a payment is worth stays in the ledger.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped
from billcycle.db.types import BigId, UtcDateTime


class PaymentActivity(TenantScoped, Base):
    __tablename__ = "payment_activities"
    __table_args__ = (
        Index("ix_payment_activities_account", "tenant_id", "account_id"),
        Index("ix_payment_activities_payment", "payment_id", "tenant_id"),
    )

    # No foreign keys, not even the tenant's (as ledger entries and bulk-job records): a
    # bulk job writes a million of these, and a key check per row costs as much as the
    # insert; the account and payment are the tenant's, written only from rows read in it.
    tenant_id: Mapped[int] = mapped_column(BigId, nullable=False)
    account_id: Mapped[int] = mapped_column(BigId, nullable=False)
    payment_id: Mapped[int | None] = mapped_column(BigId)
    refund_id: Mapped[int | None] = mapped_column(BigId)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # ActivityStatus
    transaction_type: Mapped[str] = mapped_column(String(20), nullable=False)  # ActivityType
    source: Mapped[str] = mapped_column(String(30), nullable=False)  # PaymentSource
    method_kind: Mapped[str] = mapped_column(String(20), nullable=False)  # MethodKind
    method: Mapped[str] = mapped_column(String(100), nullable=False)  # "CreditCard (Visa ...)"
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reference: Mapped[str | None] = mapped_column(String(500))
    gateway_code: Mapped[str | None] = mapped_column(String(100))
    gateway_message: Mapped[str | None] = mapped_column(String(500))
    effective_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
