"""Audit events as the admin API shows them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from billcycle.audit.models import AuditEvent


class AuditEventOut(BaseModel):
    id: int
    tenant_id: int
    occurred_at: datetime
    actor: str
    action: str
    method: str | None
    route: str | None
    object_ids: list[str]
    outcome: str
    request_id: str | None
    track_id: str | None

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        return cls(
            id=event.id,
            tenant_id=event.tenant_id,
            occurred_at=event.occurred_at,
            actor=event.actor,
            action=event.action,
            method=event.method,
            route=event.route,
            object_ids=[str(item) for item in event.object_ids or []],
            outcome=event.outcome,
            request_id=event.request_id,
            track_id=event.track_id,
        )
