from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped
from billcycle.db.types import UtcDateTime


class Event(TenantScoped, Base):
    """One state change of the domain, appended in the transaction that made it, never
    changed. ``id`` orders a tenant's events (keyset paging); ``event_id`` is the stable
    public id (``evt_`` + a ULID), the ``webhook-id`` of every delivery of the event."""

    __tablename__ = "events"
    __table_args__ = (
        Index("uq_events_event_id", "event_id", unique=True),
        Index("ix_events_tenant", "tenant_id", "id"),
        Index("ix_events_tenant_type", "tenant_id", "type", "id"),
        Index("ix_events_tenant_object", "tenant_id", "object_type", "object_id", "id"),
        Index("ix_events_fan_out", "fanned_out", "id"),
    )

    event_id: Mapped[str] = mapped_column(String(32), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)  # an EventType
    object_type: Mapped[str] = mapped_column(String(32), nullable=False)  # an ObjectType
    object_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The tenant's business clock at the change.
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    # Set once the webhook fan-out has made this event's deliveries (billcycle.webhooks).
    fanned_out: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
