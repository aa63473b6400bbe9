"""A payment run and its per-receivable records.

The run keeps its request (target date, schedule, filters, flags) and progress counters
that the chunk workers keep true at every commit, so a client polling it sees the run
advance. Each ``payment_run_data`` row is one receivable (an invoice) the run collects:
selected when the run starts, or given by the client as ``data[]``. A row's outcome is
written once (``result``); the charge it made is named by ``payment_id`` from the moment
the payment exists, so a chunk re-run after a crash resumes that payment instead of
charging again.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped, Timestamps
from billcycle.db.types import BigId, UtcDateTime


class PaymentRun(TenantScoped, Timestamps, Base):
    __tablename__ = "payment_runs"
    __table_args__ = (
        Index("uq_payment_runs_tenant_number", "tenant_id", "payment_run_number", unique=True),
        Index("ix_payment_runs_tenant_status", "tenant_id", "status"),
        Index("ix_payment_runs_due", "status", "run_date"),
    )

    payment_run_number: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # PaymentRunStatus
    target_date: Mapped[date | None] = mapped_column(Date)
    # A scheduled run's time (on the hour, UTC); None: it runs when created.
    run_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    executed_on: Mapped[datetime | None] = mapped_column(UtcDateTime)
    completed_on: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Filters (billcycle ids and values; the dialect renders them).
    account_id: Mapped[int | None] = mapped_column(BigInteger)
    batch: Mapped[int | None] = mapped_column(Integer)
    bill_cycle_day: Mapped[int | None] = mapped_column(Integer)
    billing_run_id: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    payment_gateway_id: Mapped[int | None] = mapped_column(BigInteger)
    # True: the run collects the client's data[] records, selects nothing itself.
    explicit_data: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Flags.
    auto_apply_credit_memo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    auto_apply_unapplied_payment: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False
    )
    apply_credit_balance: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    collect_payment: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    consolidated_payment: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    process_payment_with_closed_pm: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False
    )
    ignore_payment_run_retry_rule: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False
    )
    organization_labels: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created_by_id: Mapped[str | None] = mapped_column(String(64))
    updated_by_id: Mapped[str | None] = mapped_column(String(64))
    # Progress, beside Zuora's fields.
    receivables_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    receivables_processed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    receivables_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    payments_created: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Unapplied payments (credit balance) the run applied before charging.
    unapplied_payments_used: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    chunks_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error_message: Mapped[str | None] = mapped_column(Text)


class PaymentRunData(TenantScoped, Base):
    """One receivable of a run. Amounts are minor units of ``currency``."""

    __tablename__ = "payment_run_data"
    # (run, account): a chunk is a range of the run's accounts, so one account's records
    # are always in one chunk (a consolidated payment covers them all).
    __table_args__ = (
        Index("ix_payment_run_data_run_account", "payment_run_id", "account_id"),
        # No index by invoice or by payment: nothing looks records up by either (a record
        # names its payment, read forward: the run's statements go from the record to its
        # payment by the payment's primary key), each cost a run an entry a record, and
        # without one the claim that sets the payment changes no indexed column (in place
        # on PostgreSQL; migrations 0038_payrec_fewer_index_entries and
        # 0039_paypg_hot_updates).
    )

    # No foreign keys (migration 0044_pgfk_fewer_fk_checks): a run's start inserts every
    # record in the transaction that creates the run, and the two checks (tenant, run)
    # cost each record two look-ups and locks of those two rows (PostgreSQL ~5 us each:
    # 10 s of the server's CPU a 1,000,000-record run). ``repository.delete_run`` deletes
    # the records before the run; a tenant with any record is not deletable
    # (``tenancy.management_repository.tenant_has_data`` asks this table).
    tenant_id: Mapped[int] = mapped_column(BigId, nullable=False)
    payment_run_id: Mapped[int] = mapped_column(BigId, nullable=False)
    account_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    invoice_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    # The client's data[] record (None fields: not given); from_input False: selected.
    from_input: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    payment_method_id: Mapped[int | None] = mapped_column(BigInteger)
    payment_gateway_id: Mapped[int | None] = mapped_column(BigInteger)
    comment: Mapped[str | None] = mapped_column(String(255))
    # Outcome.
    amount_to_collect_minor: Mapped[int | None] = mapped_column(BigInteger)
    amount_collected_minor: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    payment_id: Mapped[int | None] = mapped_column(BigInteger)
    result: Mapped[str | None] = mapped_column(String(20))  # RecordResult
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(Text)
    # [{"id": payment id, "type": TransactionType, "amount": minor, "applied": minor}]
    transactions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
