from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped
from billcycle.db.types import UtcDateTime


class AuditEvent(TenantScoped, Base):
    """Who did what, when, and how it ended. Rows are only ever inserted (and purged
    once older than the retention period)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_tenant", "tenant_id", "id"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
    )

    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    # "client:<oauth client id>", "apikey:<key prefix>", "cli:<os user>", "user:<name>"
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    # What was done: "POST /zuora/v1/accounts" for HTTP, "tenant grant" for the CLI.
    action: Mapped[str] = mapped_column(String(255), nullable=False)
    method: Mapped[str | None] = mapped_column(String(10))
    route: Mapped[str | None] = mapped_column(String(500))
    object_ids: Mapped[list[Any] | None] = mapped_column(JSON)
    # The HTTP status ("201", "404") or the CLI's "ok" / "error".
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(64))
    track_id: Mapped[str | None] = mapped_column(String(64))
