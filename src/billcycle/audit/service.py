"""The audit log's service API: record an event, read a tenant's events, purge old ones.

``record`` is one INSERT in the caller's unit of work; the HTTP dialects call it once per
state-changing request, after the response (see :mod:`billcycle.web.audit`), the CLI
once per command that changes data, and the console can do the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from billcycle.audit import repository
from billcycle.audit.models import AuditEvent
from billcycle.errors import InvalidValue

MAX_PAGE = 500
_LIMITS = {"actor": 255, "action": 255, "method": 10, "route": 500, "outcome": 32}


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _clip(value: str | None, field: str) -> str | None:
    return None if value is None else value[: _LIMITS[field]]


def record(
    session: Session,
    tenant_id: int,
    actor: str,
    action: str,
    method: str | None,
    route: str | None,
    object_ids: Sequence[str | int],
    outcome: str | int,
    request_id: str | None,
    track_id: str | None,
    *,
    occurred_at: datetime,
    client: tuple[str, int] | None = None,
) -> int | None:
    """Append one event (``occurred_at`` is machine time: when it happened, not a
    tenant's business date). With ``client`` (OAuth client id, its tenant): that
    client's current generation, read by the same statement (None: no such client)."""
    return repository.insert_event(
        session,
        {
            "tenant_id": tenant_id,
            "occurred_at": occurred_at,
            "actor": _clip(actor, "actor"),
            "action": _clip(action, "action"),
            "method": _clip(method, "method"),
            "route": _clip(route, "route"),
            "object_ids": [str(item) for item in object_ids][:20] or None,
            "outcome": _clip(str(outcome), "outcome"),
            "request_id": request_id[:64] if request_id else None,
            "track_id": track_id[:64] if track_id else None,
        },
        client=client,
    )


def riding_values(
    tenant_id: int,
    actor: str,
    action: str,
    method: str | None,
    route: str | None,
    outcome: str | int,
    request_id: str | None,
    track_id: str | None,
    *,
    occurred_at: datetime,
) -> dict[str, Any]:
    """:func:`record`'s row but its ``object_ids``, for a statement that writes it with
    the object it makes (``repository.riding_audit_event``; the keys are its
    ``RIDING_KEYS``)."""
    return {
        "tenant_id": tenant_id,
        "occurred_at": occurred_at,
        "actor": _clip(actor, "actor"),
        "action": _clip(action, "action"),
        "method": _clip(method, "method"),
        "route": _clip(route, "route"),
        "outcome": _clip(str(outcome), "outcome"),
        "request_id": request_id[:64] if request_id else None,
        "track_id": track_id[:64] if track_id else None,
    }


def list_events(
    session: Session,
    tenant_id: int,
    *,
    after: int | None = None,
    limit: int = 100,
    where: AuditFilter | None = None,
) -> list[AuditEvent]:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidValue(f"limit must be 1 to {MAX_PAGE}.")
    where = where or AuditFilter()
    return repository.events(
        session,
        tenant_id,
        after=after,
        limit=limit,
        actor=where.actor,
        action=where.action,
        outcome=where.outcome,
        since=where.since,
        until=where.until,
    )


def purge(session: Session, now: datetime, retention_days: int) -> int:
    """Delete every tenant's events older than ``retention_days``; how many went."""
    if retention_days < 1:
        raise InvalidValue("The audit retention must be at least 1 day.")
    return repository.purge_before(session, now - timedelta(days=retention_days))


def every_tenant(session: Session) -> list[int]:
    """The installation's tenants: where an installation-wide action is recorded."""
    return repository.tenant_ids(session)
