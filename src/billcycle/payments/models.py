"""Payments and refunds. Their money movements live in the ledger (``ledger_entries`` with
``payment_id``): the rows here carry what a payment *is* (amount, account, status, gateway
facts), never how much of it is applied, unapplied or refunded, which is derived."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped, Timestamps
from billcycle.db.types import BigId, UtcDateTime


class Payment(TenantScoped, Timestamps, Base):
    """``tenant_id`` carries no foreign key (the account's does, with its cascade): a
    payment run writes a payment per invoice, and a redundant key check per row cost the
    database more than a tenth of the run (migration 0034)."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_payments_account", "tenant_id", "account_id"),
        # The console's sort orders (keyset pages: the last page costs what the first does).
        Index("ix_payments_tenant_date", "tenant_id", "effective_date", "id"),
        Index("ix_payments_tenant_amount", "tenant_id", "amount_minor", "id"),
        # The console dashboard's failed payments (newest first) and their count: only
        # payments in Error are in this index.
        Index(
            "ix_payments_failed",
            "tenant_id",
            "effective_date",
            "id",
            sqlite_where=text("status = 'Error'"),
            postgresql_where=text("status = 'Error'"),
        ),
        # Earlier attempts of a gatewayOrderId (charging's attempt keys). Led by the order
        # id: the only index a run's ``gateway_order_id = ? AND tenant_id + 0 = ?``
        # look-up can use, whatever the statistics (migration 0035). Only payments sent
        # under another order id than their number: the others are found by their
        # number (the unique index), and a payment run's writes none here (0042).
        Index(
            "ix_payments_gateway_order",
            "gateway_order_id",
            "tenant_id",
            sqlite_where=text("gateway_order_id <> number"),
            postgresql_where=text("gateway_order_id <> number"),
        ),
        # A payment run's Processing payments by the invoice each intends to pay: only
        # payments holding their intention on the row are in this index (migration 0036).
        Index(
            "ix_payments_pending_invoice",
            "tenant_id",
            "pending_invoice_id",
            sqlite_where=text("pending_invoice_id IS NOT NULL"),
            postgresql_where=text("pending_invoice_id IS NOT NULL"),
        ),
        # The reconciler's sweep: only Processing payments are in this index.
        Index(
            "ix_payments_processing",
            "submitted_at",
            sqlite_where=text("status = 'Processing'"),
            postgresql_where=text("status = 'Processing'"),
        ),
    )

    tenant_id: Mapped[int] = mapped_column(BigId, nullable=False)
    # No foreign key (migration 0044_pgfk_fewer_fk_checks): its check cost every inserted
    # payment a look-up and a row lock of the account (PostgreSQL: ~11 us, as much as
    # the insert). Every writer names an account it read under the tenant, and the one
    # delete of an account (``accounts.repository.delete_account_cascade``, refused once
    # the account has posted invoices or ledger entries) deletes its payments itself.
    account_id: Mapped[int] = mapped_column(BigId, nullable=False)
    number: Mapped[str] = mapped_column(String(32), nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    effective_date: Mapped[date] = mapped_column(Date, nullable=False)
    payment_type: Mapped[str] = mapped_column(String(20), nullable=False)  # PaymentType
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # PaymentStatus
    # Payment methods arrive next; the id is kept so a payment can name its method.
    payment_method_id: Mapped[int | None] = mapped_column(BigId)
    gateway_id: Mapped[int | None] = mapped_column(BigId)
    gateway_order_id: Mapped[str | None] = mapped_column(String(50))
    gateway_state: Mapped[str | None] = mapped_column(String(30))  # GatewayState
    gateway_response: Mapped[str | None] = mapped_column(String(500))
    gateway_response_code: Mapped[str | None] = mapped_column(String(100))
    auth_transaction_id: Mapped[str | None] = mapped_column(String(50))
    soft_descriptor: Mapped[str | None] = mapped_column(String(35))
    reference_id: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(String(255))
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Deleting (Canceled payments only) hides the row; its ledger entries stay.
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Charging through a gateway (payments/charging.py): the idempotency key of this
    # attempt (gateways.interface.attempt_key), the gateway's transaction reference (what
    # a refund names), why a decline happened, and who asked (e.g. a payment run).
    attempt_key: Mapped[str | None] = mapped_column(String(64))
    gateway_transaction_id: Mapped[str | None] = mapped_column(String(64))
    decline_category: Mapped[str | None] = mapped_column(String(20))  # DeclineCategory
    attempt_source: Mapped[str | None] = mapped_column(String(100))
    # A payment run's payment pays its one invoice with its whole amount: that intention
    # is held here, not as a ``payment_pending_applications`` row (one row fewer written
    # and deleted a payment). Set while the payment is Processing, cleared (NULL) when it
    # settles or fails, exactly as the row would be deleted; every reader of intentions
    # (``payments.pending_repository``) reads both.
    pending_invoice_id: Mapped[int | None] = mapped_column(BigId)


class PendingApplication(TenantScoped, Base):
    """What a Processing electronic payment will be applied to once its gateway settles
    it: an intention, not money (nothing here counts on an invoice). Deleted when the
    payment settles (applied) or fails (dropped).

    Only ``payment_id`` is a foreign key (the parent link, with its cascade): the tenant
    and the invoice are the payment's, written with it from the invoice read in the same
    transaction (migration 0034)."""

    __tablename__ = "payment_pending_applications"
    __table_args__ = (
        Index("ix_payment_pending_applications_payment", "tenant_id", "payment_id"),
        Index("ix_payment_pending_applications_invoice", "tenant_id", "invoice_id"),
    )

    tenant_id: Mapped[int] = mapped_column(BigId, nullable=False)
    payment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("payments.id", ondelete="CASCADE"), nullable=False
    )
    invoice_id: Mapped[int] = mapped_column(BigId, nullable=False)
    invoice_item_id: Mapped[int | None] = mapped_column(BigId)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Refund(TenantScoped, Timestamps, Base):
    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_refunds_payment", "tenant_id", "payment_id"),
        Index(
            "ix_refunds_processing",
            "created_at",
            sqlite_where=text("status = 'Processing'"),
            postgresql_where=text("status = 'Processing'"),
        ),
    )

    payment_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("payments.id", ondelete="CASCADE"), nullable=False
    )
    account_id: Mapped[int] = mapped_column(BigId, nullable=False)
    number: Mapped[str] = mapped_column(String(32), nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    refund_type: Mapped[str] = mapped_column(String(20), nullable=False)  # PaymentType
    method_type: Mapped[str | None] = mapped_column(String(40))  # RefundMethodType
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # RefundStatus
    refund_date: Mapped[date] = mapped_column(Date, nullable=False)
    reason_code: Mapped[str | None] = mapped_column(String(100))
    reference_id: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(String(255))
    refund_transaction_type: Mapped[str | None] = mapped_column(String(30))
    # An electronic refund goes through the payment's gateway (payments/gateway_refunds.py).
    gateway_id: Mapped[int | None] = mapped_column(BigId)
    gateway_response: Mapped[str | None] = mapped_column(String(500))
    gateway_response_code: Mapped[str | None] = mapped_column(String(100))
    gateway_transaction_id: Mapped[str | None] = mapped_column(String(64))


class PaymentsInFlight(TenantScoped, Base):
    """A payment run's slice of charges sent to their gateway whose payments are not
    written yet (``payments.charging.begin_run_slice`` with no ``payment.created``
    subscriber): ONE row a slice, written with the records' claims before any gateway
    call and deleted by the unit of work that inserts the slice's payments with their
    outcomes (``finish_run_slice``), or by a recovery that inserts them Processing (a
    chunk retaken after a crash, the reconciler's sweep), whichever comes first. While
    it exists its charges are in flight: their invoices awaited, their ids and numbers
    taken (``payments.pending_repository``). ``charges``: the JSON of the payments'
    columns as the begin decided them (``pending_repository.add_in_flight``);
    ``invoices``: a flat JSON array of their invoices, for SQL to read."""

    __tablename__ = "payments_in_flight"

    payment_run_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    first_account: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_account: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The slice's greatest payment id (SQLite's ids continue after it too).
    last_payment_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    invoices: Mapped[str] = mapped_column(Text, nullable=False)
    charges: Mapped[str] = mapped_column(Text, nullable=False)
