"""Usage tables: units of measure (a tenant setting), usage records and file imports."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped, Timestamps
from billcycle.db.types import BigId, ExactDecimal, UtcDateTime

USAGE = "usage"
UOM = "unit-of-measure"
USAGE_IMPORT = "usage-import"


class UnitOfMeasure(TenantScoped, Timestamps, Base):
    """A unit usage is counted in (Zuora's Billing Settings > Units of Measure).

    ``decimal_places`` is how many decimals a quantity in this unit may carry.
    """

    __tablename__ = "units_of_measure"
    __table_args__ = (Index("uq_units_of_measure_name", "tenant_id", "name", unique=True),)

    name: Mapped[str] = mapped_column(String(25), nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(100))
    decimal_places: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class UsageRecord(TenantScoped, Timestamps, Base):
    """One metered quantity of one usage charge segment.

    ``usage_date`` (the date of ``start_date_time``) decides the billing period that rates
    it. A record is billed when a live usage item of its charge covers that date (by
    range, no write per record: ``repository.billing_items``); only a late record, billed
    by an item whose period does not hold its date, is bound by ``invoice_item_id``,
    cleared when that invoice is cancelled (or deleted), so a record is billed once.
    ``tenant_id`` carries no foreign key: the account's does (a key check per row cost
    more than the insert of a million-row import). On PostgreSQL the table's fillfactor
    is 50 (migration 0029): binding a record is then a HOT update, in its own page.
    """

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_charge_date", "subscription_charge_id", "usage_date"),
        Index("ix_usage_records_account", "account_id", "id"),
        # Late usage only (a few rows): the bill run's late sum probes it per charge.
        Index(
            "ix_usage_records_late",
            "subscription_charge_id",
            sqlite_where=text("late"),
            postgresql_where=text("late"),
        ),
    )

    tenant_id: Mapped[int] = mapped_column(BigId, nullable=False)
    account_id: Mapped[int] = mapped_column(BigId, nullable=False)
    subscription_id: Mapped[int] = mapped_column(BigId, nullable=False)
    subscription_charge_id: Mapped[int] = mapped_column(BigId, nullable=False)
    uom: Mapped[str] = mapped_column(String(25), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal, nullable=False)
    start_date_time: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    end_date_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    usage_date: Mapped[date] = mapped_column(Date, nullable=False)
    description: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(10), nullable=False)
    import_id: Mapped[int | None] = mapped_column(BigId)
    invoice_item_id: Mapped[int | None] = mapped_column(BigId)  # late records only
    # Dated in a period already billed when created (late usage): billed with the next
    # period of its charge (docs/usage.md). Set once; binding never changes it.
    late: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )


class UsageImport(TenantScoped, Timestamps, Base):
    """An uploaded usage file: Pending until a worker loads it, then Completed, or
    Failed with its rows' errors (the import is atomic: a file with errors loads
    nothing, as Zuora documents)."""

    __tablename__ = "usage_imports"

    file_name: Mapped[str] = mapped_column(String(255), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    total_records: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    loaded_records: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    errors: Mapped[str | None] = mapped_column(Text)  # JSON list of {row, reason}
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class UsageImportPart(TenantScoped, Base):
    """The uploaded file in pieces, so neither the upload nor the worker holds it whole.
    Deleted once the import is done."""

    __tablename__ = "usage_import_parts"
    __table_args__ = (Index("uq_usage_import_parts_seq", "usage_import_id", "seq", unique=True),)

    usage_import_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("usage_imports.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
