from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped
from billcycle.db.types import BigId, UtcDateTime


class BulkJob(TenantScoped, Base):
    """Counters and timestamps are Fusebill's and kept true at every commit a client
    could poll between."""

    __tablename__ = "bulk_jobs"
    __table_args__ = (
        Index("ix_bulk_jobs_tenant_status", "tenant_id", "status"),
        Index("ix_bulk_jobs_tenant_created", "tenant_id", "created_at"),
    )

    type: Mapped[str] = mapped_column(String(40), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # validation done
    importing_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    modified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    total_records: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    successful_records: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed_records: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total_processed_records: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    processed_records: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed_processed_records: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    file_name: Mapped[str | None] = mapped_column(String(255))
    reference: Mapped[str | None] = mapped_column(String(255))
    related_id: Mapped[int | None] = mapped_column(BigInteger)
    internal_automated_flag: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    settings: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(100))


class BulkJobRecord(TenantScoped, Base):
    """One record of a job (one invoice to write off), found by (job, seq).

    Nothing but (job, seq) is indexed, so the two status changes of every record are
    updates in place (heap-only on PostgreSQL, whose table keeps free space for them).
    ``tenant_id`` carries no foreign key: the job's does, and records are written only
    with their job's tenant (a key check per row cost more than the insert).
    """

    __tablename__ = "bulk_job_records"
    __table_args__ = (Index("uq_bulk_job_records_seq", "bulk_job_id", "seq", unique=True),)

    tenant_id: Mapped[int] = mapped_column(BigId, nullable=False)

    bulk_job_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("bulk_jobs.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    # Pending, PassedValidation, FailedValidation, Processed, FailedProcessing
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    data: Mapped[str] = mapped_column(Text, nullable=False)
    details: Mapped[str | None] = mapped_column(Text)
    created_entity_id: Mapped[int | None] = mapped_column(BigInteger)
