"""The collections tables.

``collection_policies``: the tenant's one policy (retry rules and dunning together), a
row per tenant, created with the defaults the first time anything needs it; it also
carries the last business day the daily evaluation ran for the tenant, the watermark
that makes the evaluation run once a day whatever the number of ticks.

``collection_accounts``: an account's overrides of the policy and its dunning state
(standing, since when, suspended since, what collections suspended). A row exists only
for accounts that were ever overridden or left ``Good``, so the daily pass reads the
overdue invoices and these rows, never every account.

``collection_events``: append-only, what happened and when, per account.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped, Timestamps
from billcycle.db.types import BigId, UtcDateTime


class CollectionPolicyRow(TenantScoped, Timestamps, Base):
    __tablename__ = "collection_policies"
    __table_args__ = (Index("uq_collection_policies_tenant", "tenant_id", unique=True),)

    retry_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    max_consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False)
    min_hours_between_attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    # Days after the due date, ascending, e.g. [1, 3, 5].
    attempt_days: Mapped[list[int]] = mapped_column(JSON, nullable=False)
    grace_days: Mapped[int] = mapped_column(Integer, nullable=False)
    auto_cancel_after_days: Mapped[int | None] = mapped_column(Integer)
    auto_write_off: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # Dunning (standing, suspension, attempts) runs only for tenants that turn it on.
    dunning_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The tenant's business day the daily evaluation last ran for (None: never).
    evaluated_on: Mapped[date | None] = mapped_column(Date)


class CollectionAccount(TenantScoped, Timestamps, Base):
    __tablename__ = "collection_accounts"
    __table_args__ = (
        Index("uq_collection_accounts_account", "tenant_id", "account_id", unique=True),
        Index("ix_collection_accounts_standing", "tenant_id", "standing"),
    )

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    # Overrides (None: the tenant's value).
    attempt_days: Mapped[list[int] | None] = mapped_column(JSON)
    grace_days: Mapped[int | None] = mapped_column(Integer)
    dunning_exempt: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The manual collections flag (Fusebill's accountStatus ``Collection``).
    in_collection: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # State: AccountStanding GOOD or POOR_STANDING (automatic).
    standing: Mapped[str] = mapped_column(String(20), nullable=False)
    poor_standing_since: Mapped[date | None] = mapped_column(Date)
    suspended_on: Mapped[date | None] = mapped_column(Date)
    # The subscriptions collections suspended (only these are resumed).
    suspended_subscriptions: Mapped[list[int]] = mapped_column(JSON, nullable=False, default=list)
    cancelled_on: Mapped[date | None] = mapped_column(Date)


class CollectionEvent(TenantScoped, Base):
    """Never updated or deleted.

    ``tenant_id`` carries no foreign key (the account's does, with its cascade): a
    payment run writes an event per payment (migration 0034)."""

    __tablename__ = "collection_events"
    __table_args__ = (
        Index("ix_collection_events_account", "tenant_id", "account_id", "id"),
        # The type and business day too: "attempted on or after day D?" (the overdue
        # read) and an invoice's latest attempt are answered from the index. Only events
        # that name an invoice (a payment's outcome event names none: one a payment of a
        # run; migration 0040); the queries say ``invoice_id IS NOT NULL``.
        Index(
            "ix_collection_events_invoice_type_day",
            "invoice_id",
            "tenant_id",
            "event_type",
            "business_date",
            sqlite_where=text("invoice_id IS NOT NULL"),
            postgresql_where=text("invoice_id IS NOT NULL"),
        ),
    )

    tenant_id: Mapped[int] = mapped_column(BigId, nullable=False)
    # No foreign key (migration 0044_pgfk_fewer_fk_checks): a payment run writes an
    # event a payment and the check cost each a look-up and a lock of the account row.
    # The account delete (``accounts.repository.delete_account_cascade``) deletes the
    # account's events itself.
    account_id: Mapped[int] = mapped_column(BigId, nullable=False)
    event_type: Mapped[str] = mapped_column(String(30), nullable=False)  # CollectionEventType
    business_date: Mapped[date] = mapped_column(Date, nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    invoice_id: Mapped[int | None] = mapped_column(BigId)
    payment_id: Mapped[int | None] = mapped_column(BigId)
    gateway_code: Mapped[str | None] = mapped_column(String(100))
    message: Mapped[str | None] = mapped_column(String(500))
    from_value: Mapped[str | None] = mapped_column(String(30))
    to_value: Mapped[str | None] = mapped_column(String(30))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
