"""All SQL of webhooks: endpoints, settings, deliveries and the attempt log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    Table,
    bindparam,
    cast,
    delete,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from billcycle.db.types import UtcDateTime
from billcycle.events import repository as events_repo
from billcycle.events.models import Event
from billcycle.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSettings,
)
from billcycle.webhooks.statuses import DeliveryStatus

# -- settings ------------------------------------------------------------------------------


def allow_private(session: Session, tenant_id: int) -> bool:
    row = session.get(WebhookSettings, tenant_id)
    return bool(row is not None and row.allow_private)


def set_allow_private(session: Session, tenant_id: int, value: bool) -> None:
    row = session.get(WebhookSettings, tenant_id)
    if row is None:
        session.add(WebhookSettings(tenant_id=tenant_id, allow_private=value))
    else:
        row.allow_private = value
    session.flush()


# -- endpoints -----------------------------------------------------------------------------


def add_endpoint(session: Session, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    session.add(endpoint)
    session.flush()
    return endpoint


def get_endpoint(
    session: Session, tenant_id: int, endpoint_id: int, *, lock: bool = False
) -> WebhookEndpoint | None:
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.id == endpoint_id
    )
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def list_endpoints(
    session: Session, tenant_id: int, *, after: int | None = None, limit: int = 100
) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id)
    if after is not None:
        query = query.where(WebhookEndpoint.id > after)
    return list(session.scalars(query.order_by(WebhookEndpoint.id).limit(limit)))


def delete_endpoint(session: Session, tenant_id: int, endpoint_id: int) -> bool:
    result = session.execute(
        delete(WebhookEndpoint).where(
            WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.id == endpoint_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# Subscribes an endpoint to every event type.
ALL = "*"


def subscribed_endpoints(
    session: Session, tenant_id: int, event_type: str
) -> list[WebhookEndpoint]:
    """The tenant's enabled endpoints that want ``event_type`` (or every type)."""
    return [
        e
        for e in enabled_endpoints(session, [tenant_id])
        if ALL in e.event_types or event_type in e.event_types
    ]


_ENDPOINTS = WebhookEndpoint.__table__
assert isinstance(_ENDPOINTS, Table)
# The event types of a tenant's enabled endpoints, built once, as Core on the table: no
# ORM entity loaded, no autoflush of the caller's session. A payment run asks at each
# slice's begin and finish (the ORM read of the endpoints cost ~1 ms a call in the
# 100,000-payment profile, with no endpoint at all).
_ENABLED_EVENT_TYPES = (
    select(_ENDPOINTS.c.event_types)
    .where(_ENDPOINTS.c.tenant_id == bindparam("tenant"), _ENDPOINTS.c.enabled.is_(True))
    .order_by(_ENDPOINTS.c.id)
)


def enabled_event_types(session: Session, tenant_id: int) -> list[list[str]]:
    """The event types of each enabled endpoint of the tenant (id order).

    Tenant: read under ``tenant_id``."""
    return [list(row[0]) for row in session.execute(_ENABLED_EVENT_TYPES, {"tenant": tenant_id})]


def enabled_endpoints(session: Session, tenant_ids: Sequence[int]) -> list[WebhookEndpoint]:
    """The enabled endpoints of these tenants.

    Tenant: the fan-out asks for the tenants of the events it claimed.
    """
    if not tenant_ids:
        return []
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(
                WebhookEndpoint.tenant_id.in_(list(tenant_ids)),
                WebhookEndpoint.enabled.is_(True),
            )
            .order_by(WebhookEndpoint.id)
        )
    )


@dataclass(frozen=True)
class LeasedEndpoint:
    id: int
    tenant_id: int
    url: str
    secret: str
    failing_since: datetime | None


def lease_endpoint(
    session: Session, endpoint_id: int, now: datetime, until: datetime
) -> LeasedEndpoint | None:
    """Take the endpoint's delivery lease if it is enabled and nobody holds it.

    Tenant: the id comes from a task the fan-out or the tick dispatched for its tenant.
    """
    result = session.execute(
        update(WebhookEndpoint)
        .where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.enabled.is_(True),
            or_(WebhookEndpoint.lease_until.is_(None), WebhookEndpoint.lease_until < now),
        )
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    row = session.execute(
        select(
            WebhookEndpoint.id,
            WebhookEndpoint.tenant_id,
            WebhookEndpoint.url,
            WebhookEndpoint.secret,
            WebhookEndpoint.failing_since,
        ).where(WebhookEndpoint.id == endpoint_id)
    ).one()
    return LeasedEndpoint(*row)


def renew_lease(session: Session, endpoint_id: int, until: datetime | None) -> None:
    """Tenant: the caller holds this endpoint's lease (taken under its tenant)."""
    session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )


def set_failing(
    session: Session,
    endpoint_id: int,
    failing_since: datetime | None,
    *,
    disabled_reason: str | None = None,
    now: datetime,
) -> None:
    """Tenant: the caller holds this endpoint's lease (taken under its tenant)."""
    values: dict[str, Any] = {"failing_since": failing_since}
    if disabled_reason is not None:
        values.update(enabled=False, disabled_reason=disabled_reason, updated_at=now)
    session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


# -- deliveries ----------------------------------------------------------------------------


def fan_out_to(
    session: Session,
    endpoint: WebhookEndpoint,
    event_ids: Sequence[int],
    types: Sequence[str] | None,
    *,
    now: datetime,
    give_up_at: datetime,
) -> int:
    """One delivery to ``endpoint`` for each of these events of its tenant (of ``types``,
    or all), in one INSERT ... SELECT; returns how many.

    Tenant: the events are filtered on the endpoint's tenant.
    """
    if not event_ids:
        return 0
    where = [events_repo.among(Event.id, event_ids)]
    if types is not None:
        where.append(Event.type.in_(list(types)))
    return _insert_deliveries(session, endpoint, where, now=now, give_up_at=give_up_at)


def fan_out_block(
    session: Session,
    endpoint: WebhookEndpoint,
    first_event_id: str,
    last_event_id: str,
    *,
    now: datetime,
    give_up_at: datetime,
) -> int:
    """One delivery to ``endpoint`` for each event of one set-based statement (the
    ``event_id`` range of the block it reserved: ``events.service``), found by a range of
    the event-id index; returns how many.

    Tenant: the events are filtered on the endpoint's tenant.
    """
    where = [Event.event_id.between(first_event_id, last_event_id)]
    # In any order: each event of the block is about another object (no sort needed).
    # The tenant as ``tenant_id + 0``: the planner then takes the event-id range, not the
    # tenant index (SQLite without statistics would read every event of the tenant).
    return _insert_deliveries(
        session,
        endpoint,
        where,
        now=now,
        give_up_at=give_up_at,
        ordered=False,
        tenant=Event.tenant_id + 0,
    )


def _insert_deliveries(
    session: Session,
    endpoint: WebhookEndpoint,
    where: Sequence[Any],
    *,
    now: datetime,
    give_up_at: datetime,
    ordered: bool = True,
    tenant: Any = Event.tenant_id,
) -> int:
    query = select(
        Event.tenant_id,
        literal(endpoint.id, BigInteger),
        Event.id,
        Event.object_type + literal(":") + cast(Event.object_id, String),
        literal(DeliveryStatus.PENDING.value),
        literal(0),
        literal(now, UtcDateTime),
        literal(give_up_at, UtcDateTime),
        literal(now, UtcDateTime),
    ).where(tenant == endpoint.tenant_id, *where)
    if ordered:
        # Delivery ids follow event ids: the order by object rests on it.
        query = query.order_by(Event.id)
    result = session.execute(
        insert(WebhookDelivery)
        .from_select(
            [
                "tenant_id",
                "endpoint_id",
                "event_id",
                "object_key",
                "status",
                "attempts",
                "next_attempt_at",
                "give_up_at",
                "created_at",
            ],
            query,
        )
        .execution_options(preserve_rowcount=True)  # else PostgreSQL's count reads -1
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def add_deliveries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Tenant: each row carries its event's tenant_id."""
    if rows:
        session.execute(insert(WebhookDelivery), list(rows))


@dataclass(frozen=True)
class PendingDelivery:
    id: int
    attempts: int
    next_attempt_at: datetime
    give_up_at: datetime
    object_key: str
    event_id: str
    type: str
    occurred_at: datetime
    object_type: str
    object_id: int
    payload: dict[str, Any]


def pending_deliveries(session: Session, endpoint_id: int, limit: int) -> list[PendingDelivery]:
    """The endpoint's oldest pending deliveries (due or not) with their events.

    Tenant: the caller holds this endpoint's lease (taken under its tenant).
    """
    rows = session.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.attempts,
            WebhookDelivery.next_attempt_at,
            WebhookDelivery.give_up_at,
            WebhookDelivery.object_key,
            Event.event_id,
            Event.type,
            Event.occurred_at,
            Event.object_type,
            Event.object_id,
            Event.payload,
        )
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
        .order_by(WebhookDelivery.id)
        .limit(limit)
    )
    return [PendingDelivery(*row) for row in rows]


def add_attempts(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Tenant: each row carries its endpoint's tenant_id."""
    if rows:
        session.execute(insert(WebhookAttempt), list(rows))


def update_deliveries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Each row: ``b_id`` and the new status, attempts, next_attempt_at,
    last_attempt_at, delivered_at (one executemany).

    Tenant: the ids come from :func:`pending_deliveries` under a leased endpoint.
    """
    if not rows:
        return
    table = WebhookDelivery.__table__
    assert isinstance(table, Table)
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            status=bindparam("status"),
            attempts=bindparam("attempts"),
            next_attempt_at=bindparam("next_attempt_at"),
            last_attempt_at=bindparam("last_attempt_at"),
            delivered_at=bindparam("delivered_at"),
        ),
        list(rows),
    )


def fail_pending(session: Session, endpoint_id: int) -> None:
    """Give up every pending delivery of a disabled endpoint.

    Tenant: the caller holds this endpoint's lease (taken under its tenant).
    """
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.FAILED)
        .execution_options(synchronize_session=False)
    )


def endpoints_with_due_deliveries(session: Session, now: datetime) -> list[int]:
    """Enabled, unleased endpoints with a delivery due.

    Tenant: spans tenants on purpose (the scheduler's tick serves them all).
    """
    return list(
        session.scalars(
            select(WebhookDelivery.endpoint_id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at <= now,
                WebhookEndpoint.enabled.is_(True),
                or_(WebhookEndpoint.lease_until.is_(None), WebhookEndpoint.lease_until < now),
            )
            .distinct()
        )
    )


def list_deliveries(
    session: Session,
    tenant_id: int,
    endpoint_id: int,
    *,
    after: int | None = None,
    limit: int = 100,
) -> list[tuple[WebhookDelivery, str, str]]:
    """The endpoint's deliveries, newest first, with their event's id and type."""
    query = (
        select(WebhookDelivery, Event.event_id, Event.type)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(
            WebhookDelivery.tenant_id == tenant_id,
            WebhookDelivery.endpoint_id == endpoint_id,
        )
    )
    if after is not None:
        query = query.where(WebhookDelivery.id < after)
    rows = session.execute(query.order_by(WebhookDelivery.id.desc()).limit(limit))
    return [(row[0], row[1], row[2]) for row in rows]


def get_delivery(session: Session, tenant_id: int, delivery_id: int) -> WebhookDelivery | None:
    return session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.id == delivery_id
        )
    )


def attempts_of(session: Session, tenant_id: int, delivery_id: int) -> list[WebhookAttempt]:
    return list(
        session.scalars(
            select(WebhookAttempt)
            .where(
                WebhookAttempt.tenant_id == tenant_id,
                WebhookAttempt.delivery_id == delivery_id,
            )
            .order_by(WebhookAttempt.attempt, WebhookAttempt.id)
        )
    )


def deliveries_of_event(
    session: Session, tenant_id: int, event_row_id: int, endpoint_id: int | None
) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).where(
        WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.event_id == event_row_id
    )
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    return list(session.scalars(query.order_by(WebhookDelivery.id)))
