"""All SQL of the events outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Table, insert, or_, select, update
from sqlalchemy.orm import Session

from billcycle.db.bulk import dbapi
from billcycle.db.engine import try_begin_sqlite_write
from billcycle.events.models import Event


def add_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Append ``rows`` in one statement.

    Tenant: each row carries the tenant_id of the context that wrote it.
    """
    if rows:
        # The table, not the entity: a plain executemany, no ORM bulk-insert bookkeeping
        # per row (a payment run's chunk appends two events a payment).
        session.execute(insert(cast(Table, Event.__table__)), list(rows))


def add_event(session: Session, event: Event) -> Event:
    session.add(event)
    session.flush()
    return event


def page(
    session: Session,
    tenant_id: int,
    *,
    types: Sequence[str] = (),
    object_type: str | None = None,
    object_id: int | None = None,
    since: datetime | None = None,
    after: int | None = None,
    limit: int = 100,
) -> list[Event]:
    """The tenant's events, oldest first, ``limit`` after the row id ``after``."""
    query = select(Event).where(Event.tenant_id == tenant_id)
    if types:
        query = query.where(Event.type.in_(list(types)))
    if object_type is not None:
        query = query.where(Event.object_type == object_type)
    if object_id is not None:
        query = query.where(Event.object_id == object_id)
    if since is not None:
        query = query.where(Event.occurred_at >= since)
    if after is not None:
        query = query.where(Event.id > after)
    return list(session.scalars(query.order_by(Event.id).limit(limit)))


def get_by_event_id(session: Session, tenant_id: int, event_id: str) -> Event | None:
    return session.scalar(
        select(Event).where(Event.tenant_id == tenant_id, Event.event_id == event_id)
    )


def write_lock_free(session: Session) -> bool:
    """SQLite: take the database's write lock for this unit of work if no other writer
    holds it now, else False without waiting (``db.engine.try_begin_sqlite_write``).
    PostgreSQL: True (the fan-out skips locked events row by row)."""
    if session.get_bind().dialect.name != "sqlite":
        return True
    return try_begin_sqlite_write(dbapi(session))


def claim_unfanned(session: Session, limit: int) -> list[Row[tuple[int, int, str]]]:
    """Events not fanned out yet, oldest first, locked (others skip them): their id,
    tenant and type.

    Tenant: spans tenants on purpose (the fan-out serves every tenant).
    """
    return list(
        session.execute(
            select(Event.id, Event.tenant_id, Event.type)
            .where(Event.fanned_out.is_(False))
            .order_by(Event.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def id_ranges(ids: Sequence[int]) -> list[tuple[int, int]]:
    """``ids`` as runs of consecutive ids: a fan-out batch is mostly one run (a set-based
    statement's events), two bound parameters instead of a thousand."""
    ranges: list[tuple[int, int]] = []
    for i in sorted(ids):
        if ranges and i == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], i)
        else:
            ranges.append((i, i))
    return ranges


def among(column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """``column`` among ``ids``: ``BETWEEN`` for each run of consecutive ids, one ``IN``
    for the ids alone."""
    ranges = id_ranges(ids)
    alone = [low for low, high in ranges if low == high]
    terms: list[ColumnElement[bool]] = [
        column.between(low, high) for low, high in ranges if low != high
    ]
    if alone:
        terms.append(column.in_(alone))
    return or_(*terms) if len(terms) > 1 else terms[0]


def mark_fanned_out(session: Session, ids: Sequence[int]) -> None:
    """Tenant: the ids come from :func:`claim_unfanned`, which carries each tenant."""
    if ids:
        session.execute(
            update(Event)
            .where(among(Event.id, ids))
            .values(fanned_out=True)
            .execution_options(synchronize_session=False)
        )
