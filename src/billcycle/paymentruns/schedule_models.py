"""A tenant's recurring payment-run schedule (Zuora's scheduled payment runs, set up in
its UI: Payments > Payment Runs > schedule)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped, Timestamps
from billcycle.db.types import UtcDateTime


class PaymentRunSchedule(TenantScoped, Timestamps, Base):
    """At most one per tenant: every day at ``run_hour`` o'clock of the tenant's time
    zone, a payment run whose target date is that day collects the autopay invoices due
    on or before it. ``next_run_at`` is the next occurrence (UTC), advanced by a
    conditional UPDATE in the transaction that creates the run, so an occurrence makes
    one run whichever scheduler (or test-clock advance) fires it."""

    __tablename__ = "payment_run_schedules"
    __table_args__ = (
        Index("uq_payment_run_schedules_tenant", "tenant_id", unique=True),
        Index("ix_payment_run_schedules_due", "active", "next_run_at"),
    )

    frequency: Mapped[str] = mapped_column(String(10), nullable=False)  # "Daily"
    run_hour: Mapped[int] = mapped_column(Integer, nullable=False)  # 0..23, tenant zone
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    next_run_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    last_run_id: Mapped[int | None] = mapped_column(BigInteger)
    last_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
