"""All SQL of the audit log: insert, page through, purge. Nothing here updates a row."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from billcycle.audit.models import AuditEvent
from billcycle.tenancy.repository import client_generation_column

# ``inline``: without the implicit ``RETURNING id`` on PostgreSQL (nothing reads the new
# row's id).
_INSERT = insert(cast(Table, AuditEvent.__table__)).inline()
_INSERT_CHECKING_CLIENT = _INSERT.returning(client_generation_column().correlate(None))


def insert_event(
    session: Session, values: dict[str, Any], *, client: tuple[str, int] | None = None
) -> int | None:
    """Tenant: the row carries the tenant the caller recorded it for (``values``).

    Core on the session's connection, not the ORM's bulk insert: every state-changing
    request writes one, inside the SQLite writer's turn (a third of the statement's cost
    was the ORM's bookkeeping).

    With ``client`` (an OAuth client id and its own tenant): the same statement returns
    that client's current generation (None when it or its tenant is gone), so a request's
    token check costs no round trip of its own."""
    if client is None:
        session.connection().execute(_INSERT, values)
        return None
    client_id, client_tenant_id = client
    value = (
        session.connection()
        .execute(
            _INSERT_CHECKING_CLIENT,
            {**values, "client_id": client_id, "client_tenant_id": client_tenant_id},
        )
        .scalar()
    )
    return None if value is None else int(value)


def events(
    session: Session,
    tenant_id: int,
    *,
    after: int | None,
    limit: int,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditEvent]:
    """The tenant's events, newest first, below id ``after`` (keyset paging)."""
    query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
    if after is not None:
        query = query.where(AuditEvent.id < after)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    if action is not None:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if outcome is not None:
        query = query.where(AuditEvent.outcome == outcome)
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEvent.occurred_at < until)
    return list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)))


def purge_before(session: Session, cutoff: datetime) -> int:
    """Tenant: retention spans every tenant on purpose (one period for the installation)."""
    result = session.execute(delete(AuditEvent).where(AuditEvent.occurred_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]


def tenant_ids(session: Session) -> list[int]:
    from billcycle.tenancy.models import Tenant

    return list(session.scalars(select(Tenant.id).order_by(Tenant.id)))
