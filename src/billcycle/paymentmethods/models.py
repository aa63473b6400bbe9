"""A payment method row: what billcycle keeps of a card or a bank account.

Never a full card or account number, never a security code: a gateway token (and a
second token for customer profiles), the brand, the masked number and expiry, the
bank's mask and mandate. ``details`` holds the holder and mandate information Zuora
echoes back (``cardHolderInfo``, ``accountHolderInfo``, ``mandateInfo``).

The retry counters are Zuora's per-payment-method fields: ``num_consecutive_failures``
(reset to 0 on a success), the method's own rule when ``use_default_retry_rule`` is
false, and the outcome of the last transaction. At most one default method per account
(a partial unique index: a concurrent second default is refused by the database).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped, Timestamps
from billcycle.db.types import BigId, UtcDateTime


class PaymentMethod(TenantScoped, Timestamps, Base):
    __tablename__ = "payment_methods"
    __table_args__ = (
        Index("ix_payment_methods_account", "tenant_id", "account_id"),
        Index(
            "ix_payment_methods_one_default",
            "tenant_id",
            "account_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    # None: an orphan method (created without accountKey), attached later.
    account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(40), nullable=False)  # PaymentMethodType
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # PaymentMethodStatus
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The gateway that charges it (Zuora's authGateway); None: the tenant's default.
    gateway_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("payment_gateways.id", ondelete="SET NULL")
    )
    payment_method_number: Mapped[str | None] = mapped_column(String(50))
    currency_code: Mapped[str | None] = mapped_column(String(3))
    # The gateway's reference (tokens.tokenId / secondTokenId); never a card number.
    token: Mapped[str | None] = mapped_column(String(100))
    second_token: Mapped[str | None] = mapped_column(String(100))
    card_type: Mapped[str | None] = mapped_column(String(30))  # gateways.statuses.CardBrand
    card_mask: Mapped[str | None] = mapped_column(String(30))  # "************4242"
    expiration_month: Mapped[int | None] = mapped_column(Integer)
    expiration_year: Mapped[int | None] = mapped_column(Integer)
    bank_aba_code: Mapped[str | None] = mapped_column(String(20))
    bank_account_name: Mapped[str | None] = mapped_column(String(70))
    bank_account_type: Mapped[str | None] = mapped_column(String(30))  # BankAccountType
    bank_name: Mapped[str | None] = mapped_column(String(70))
    bank_account_mask: Mapped[str | None] = mapped_column(String(40))
    mandate_id: Mapped[str | None] = mapped_column(String(100))
    iban_mask: Mapped[str | None] = mapped_column(String(40))
    business_identification_code: Mapped[str | None] = mapped_column(String(20))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    # Retry rule: the tenant's default unless use_default_retry_rule is false.
    use_default_retry_rule: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    max_consecutive_payment_failures: Mapped[int | None] = mapped_column(Integer)
    payment_retry_window_hours: Mapped[int | None] = mapped_column(Integer)
    num_consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_transaction: Mapped[str | None] = mapped_column(String(20))  # "Approved", "Declined"
    last_transaction_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_failed_sale_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    total_processed_payments: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total_error_payments: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
