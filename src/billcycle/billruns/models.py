from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped, Timestamps
from billcycle.db.types import BigId, UtcDateTime


class BillRun(TenantScoped, Timestamps, Base):
    """A bill run and, for scheduled runs, one occurrence of its series.

    Request fields are stored in billcycle's own representation (see ``columns``), which
    each dialect renders in its own words; progress counters are kept true by the chunk
    workers at every commit.
    """

    __tablename__ = "bill_runs"
    __table_args__ = (
        Index("uq_bill_runs_tenant_number", "tenant_id", "bill_run_number", unique=True),
        Index("ix_bill_runs_tenant_status", "tenant_id", "status"),
        Index("ix_bill_runs_due", "status", "scheduled_execution_time"),
        # One occurrence per series and time, however many schedulers race to create it.
        Index("uq_bill_runs_occurrence", "series_id", "scheduled_execution_time", unique=True),
    )

    bill_run_number: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # a BillRunStatus
    bill_run_type: Mapped[str] = mapped_column(String(10), nullable=False)  # a BillRunType
    batches: Mapped[list[int] | None] = mapped_column(JSON)  # [] = all batches
    bill_cycle_day: Mapped[str | None] = mapped_column(String(20))  # All | AsRunDay | 1..31
    bill_run_filters: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    charge_type_to_exclude: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    auto_post: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    auto_email: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    auto_renewal: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    no_email_for_zero_amount_invoice: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False
    )
    include_subscriptions: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    include_order_line_items: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    invoice_date: Mapped[date | None] = mapped_column(Date)
    target_date: Mapped[date | None] = mapped_column(Date)
    invoice_date_offset: Mapped[int | None] = mapped_column(Integer)
    target_date_offset: Mapped[int | None] = mapped_column(Integer)
    invoice_date_month_offset: Mapped[int | None] = mapped_column(Integer)
    invoice_date_day_of_month: Mapped[int | None] = mapped_column(SmallInteger)
    target_date_month_offset: Mapped[int | None] = mapped_column(Integer)
    target_date_day_of_month: Mapped[int | None] = mapped_column(SmallInteger)
    organization_labels: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # Schedule (scheduled runs only); every occurrence carries a copy plus its series id.
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    series_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    scheduled_execution_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_via_api: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by_id: Mapped[str | None] = mapped_column(String(64))
    updated_by_id: Mapped[str | None] = mapped_column(String(64))
    # Progress, beside Zuora's fields.
    accounts_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    accounts_processed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    accounts_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    invoices_created: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    items_created: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    chunks_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    posted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    error_message: Mapped[str | None] = mapped_column(Text)


class BillRunTotal(Base):
    """The amount a run invoiced in one currency (a run can span currencies); each
    chunk adds to it with an atomic upsert in the transaction that wrote its invoices."""

    __tablename__ = "bill_run_totals"

    bill_run_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("bill_runs.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class BillRunFailure(TenantScoped, Base):
    __tablename__ = "bill_run_failures"
    # (run, id): a run's first failures come straight off the index, oldest first.
    __table_args__ = (Index("ix_bill_run_failures_run_id", "bill_run_id", "id"),)

    bill_run_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("bill_runs.id", ondelete="CASCADE"), nullable=False
    )
    account_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class IdempotencyRecord(TenantScoped, Base):
    """The first answer to a POST with an ``Idempotency-Key``, replayed for repeats."""

    __tablename__ = "idempotency_records"
    __table_args__ = (Index("uq_idempotency_key", "tenant_id", "scope", "key", unique=True),)

    scope: Mapped[str] = mapped_column(String(100), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
