from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped
from billcycle.db.types import BigId, UtcDateTime


class WebhookEndpoint(TenantScoped, Base):
    """Where a tenant's events go: a URL, the event types it wants, and the secret that
    signs each delivery (kept as given: it must sign, not only verify)."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_tenant", "tenant_id", "id"),)

    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    event_types: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    secret: Mapped[str] = mapped_column(String(128), nullable=False)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # The first failure since the last success: N days of failures disable the endpoint.
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    # One delivery task at a time per endpoint (it keeps up to N requests in flight).
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class WebhookSettings(Base):
    """A tenant's webhook settings; no row means the defaults."""

    __tablename__ = "webhook_settings"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    # Allow endpoints on loopback, link-local and private addresses (tests, on-premises).
    allow_private: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class WebhookDelivery(TenantScoped, Base):
    """One event for one endpoint, delivered at least once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "status", "id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_event", "event_id"),
    )

    endpoint_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    )
    event_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("events.id", ondelete="CASCADE"), nullable=False
    )
    # "object_type:object_id": deliveries of one object reach an endpoint in order.
    object_key: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False)  # a DeliveryStatus
    attempts: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    # Retries stop after this (three days after the first try).
    give_up_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class WebhookAttempt(TenantScoped, Base):
    """The delivery log: one row per attempt."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "attempt"),)

    delivery_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False
    )
    endpoint_id: Mapped[int] = mapped_column(BigId, nullable=False)
    attempt: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    status_code: Mapped[int | None] = mapped_column(SmallInteger)  # None: no answer
    latency_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    succeeded: Mapped[bool] = mapped_column(Boolean, nullable=False)
    error: Mapped[str | None] = mapped_column(String(255))
    response_excerpt: Mapped[str | None] = mapped_column(Text)
