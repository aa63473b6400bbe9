"""The collections event log: appended to, never changed, read per account.

Every event carries the tenant's business date (what dunning counts days in) and the
instant it was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from billcycle.collections import repository as repo
from billcycle.collections.models import CollectionEvent
from billcycle.collections.statuses import CollectionEventType
from billcycle.context import ServiceContext
from billcycle.events import service as outbox
from billcycle.events.statuses import EventType

MAX_MESSAGE = 500


@dataclass(frozen=True, slots=True)
class Event:
    account_id: int
    event_type: CollectionEventType
    invoice_id: int | None = None
    payment_id: int | None = None
    gateway_code: str | None = None
    message: str | None = None
    from_value: str | None = None
    to_value: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def record(ctx: ServiceContext, *events: Event, day: date | None = None) -> None:
    """Append ``events`` in one statement, dated ``day`` (default: the tenant's today)."""
    if not events:
        return
    now = ctx.clock.now()
    business_date = day or ctx.clock.date_of(now)
    repo.add_events(
        ctx.session,
        [
            {
                "tenant_id": ctx.tenant_id,
                "account_id": event.account_id,
                "event_type": event.event_type.value,
                "business_date": business_date,
                "occurred_at": now,
                "invoice_id": event.invoice_id,
                "payment_id": event.payment_id,
                "gateway_code": event.gateway_code,
                "message": (event.message or None) and event.message[:MAX_MESSAGE],
                "from_value": event.from_value,
                "to_value": event.to_value,
                "details": event.details,
            }
            for event in events
        ],
    )
    _to_outbox(ctx, events, business_date)


# Which collections events go to the outbox (payment outcomes have their own events).
_OUTBOX_TYPES = {
    CollectionEventType.ATTEMPT: EventType.COLLECTIONS_DUNNING_STEP,
    CollectionEventType.EMAIL_SENT: EventType.COLLECTIONS_DUNNING_STEP,
    CollectionEventType.STANDING_CHANGED: EventType.COLLECTIONS_STANDING_CHANGED,
    CollectionEventType.SUSPENDED: EventType.COLLECTIONS_STATUS_CHANGED,
    CollectionEventType.RESUMED: EventType.COLLECTIONS_STATUS_CHANGED,
    CollectionEventType.CANCELLED: EventType.COLLECTIONS_STATUS_CHANGED,
    CollectionEventType.WRITTEN_OFF: EventType.COLLECTIONS_STATUS_CHANGED,
}


def _to_outbox(ctx: ServiceContext, recorded: tuple[Event, ...], business_date: date) -> None:
    """The outbox events of these collections events, one statement per type."""
    by_type: dict[EventType, list[dict[str, Any]]] = {}
    for event in recorded:
        outbox_type = _OUTBOX_TYPES.get(event.event_type)
        if outbox_type is None:
            continue
        by_type.setdefault(outbox_type, []).append(
            {
                "id": event.account_id,
                "account_id": event.account_id,
                "collection_event": event.event_type.value,
                "business_date": business_date,
                "invoice_id": event.invoice_id,
                "from": event.from_value,
                "to": event.to_value,
                "message": event.message,
                "details": event.details,
            }
        )
    for outbox_type, objects in by_type.items():
        outbox.emit_many(ctx, outbox_type, objects)


def account_events(
    ctx: ServiceContext, account_id: int, *, after: int | None = None, limit: int = 100
) -> list[CollectionEvent]:
    """The account's events, oldest first, ``limit`` after the event id ``after``."""
    return repo.page_of_events(ctx.session, ctx.tenant_id, account_id, after=after, limit=limit)
