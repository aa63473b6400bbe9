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


def account_events(
    ctx: ServiceContext, account_id: int, *, after: int | None = None, limit: int = 100
) -> list[CollectionEvent]:
    """The account's events, oldest first, ``limit`` after the event id ``after``."""
    return repo.page_of_events(ctx.session, ctx.tenant_id, account_id, after=after, limit=limit)
