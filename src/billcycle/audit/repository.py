"""All SQL of the audit log: insert, page through, purge. Nothing here updates a row."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, Table, Text, bindparam, delete, insert, literal, select
from sqlalchemy import cast as cast_
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from billcycle.audit.models import AuditEvent
from billcycle.tenancy.repository import client_generation_column

# ``inline``: without the implicit ``RETURNING id`` on PostgreSQL (nothing reads the new
# row's id).
_INSERT = insert(cast(Table, AuditEvent.__table__)).inline()
_INSERT_CHECKING_CLIENT = _INSERT.returning(client_generation_column().correlate(None))


# The columns of a row written by riding_audit_event (bound as ``au_<column>``).
RIDING_KEYS = (
    "tenant_id",
    "occurred_at",
    "actor",
    "action",
    "method",
    "route",
    "outcome",
    "request_id",
    "track_id",
)


def riding_audit_event(new_row: Any, object_id: ColumnElement[str]) -> Any:
    """``au AS (INSERT INTO audit_events ... SELECT ... FROM new_row)``: a request's audit
    row written by the statement that makes its object (a CTE ``new_row``), exactly
    when that row is written; its ``object_ids`` are ``[object_id]`` (an expression over
    ``new_row``, as the answer shows the id). The other columns are bound as
    ``au_<column>`` (:data:`RIDING_KEYS`, the values :func:`insert_event` takes).

    Tenant: bound with the row (``au_tenant_id``)."""
    table = cast(Table, AuditEvent.__table__)
    ids: Any = literal('["', type_=Text).concat(object_id).concat(literal('"]', type_=Text))
    return (
        insert(table)
        .from_select(
            [*RIDING_KEYS, "object_ids"],
            select(
                *[bindparam(f"au_{k}", type_=table.c[k].type) for k in RIDING_KEYS],
                cast_(ids, JSON),
            ).select_from(new_row),
            include_defaults=False,
        )
        .cte("au")
    )


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
