"""The collections event log: appended to, never changed, read per account.

Every event carries the tenant's business date (what dunning counts days in) and the
instant it was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from billcycle.collections import events_repository as events_repo
from billcycle.collections import repository as repo
from billcycle.collections.models import CollectionEvent
from billcycle.collections.statuses import CollectionEventType
from billcycle.context import ServiceContext
from billcycle.events import service as outbox
from billcycle.events.payload_repository import BLOCK_DIGITS
from billcycle.events.payloads import json_value
from billcycle.events.statuses import EventType, ObjectType

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
    """Append ``events`` dated ``day`` (default: the tenant's today) and the outbox
    event of each that has one: two statements whatever their number, the outbox
    payloads built by the database (``events_repository``). The outbox events are
    numbered by type, in the order each type first appears, then in the given order."""
    if not events:
        return
    now = ctx.clock.now()
    business_date = day or ctx.clock.date_of(now)
    ranks: dict[EventType, int] = {}
    rows: list[events_repo.Row] = []
    for event in events:
        outbox_type = _OUTBOX_TYPES.get(event.event_type)
        rank = 0
        if outbox_type is not None:
            rank = ranks.setdefault(outbox_type, len(ranks))
        rows.append(
            (
                event.account_id,
                event.event_type.value,
                event.invoice_id,
                event.payment_id,
                event.gateway_code,
                (event.message or None) and event.message[:MAX_MESSAGE],
                event.from_value,
                event.to_value,
                _details(event.details),
                None if outbox_type is None else outbox_type.value,
                rank,
                event.message,
            )
        )
    events_repo.add_events_and_outbox(
        ctx.session,
        ctx.tenant_id,
        rows,
        day=business_date,
        now=now,
        event_id_prefix="evt_"
        + outbox.reserve_event_ids(int(ctx.machine_clock.now().timestamp() * 1000)),
        block=10**BLOCK_DIGITS,
        object_type=ObjectType.ACCOUNT.value,
    )


_PLAIN = (str, int, bool, type(None))


def _details(details: dict[str, Any]) -> Any:
    """The details as JSON values: most are empty or plain (a standing change's, an
    attempt's), taken as they are; the rest through ``json_value``."""
    if not details:
        return {}
    for value in details.values():
        if type(value) not in _PLAIN:
            return json_value(details)
    return details


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


def account_events(
    ctx: ServiceContext, account_id: int, *, after: int | None = None, limit: int = 100
) -> list[CollectionEvent]:
    """The account's events, oldest first, ``limit`` after the event id ``after``."""
    return repo.page_of_events(ctx.session, ctx.tenant_id, account_id, after=after, limit=limit)
