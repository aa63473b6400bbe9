"""The tenant's events outbox (filter by type, object and day; keyset pages, newest
first; each event's JSON payload). Webhook endpoints have their own pages
(``pages/webhooks.py``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from billcycle.console.pages.common import (
    PAGE_SIZE,
    CurrentViewer,
    optional_date,
    optional_int,
    read,
)
from billcycle.console.render import page
from billcycle.errors import InvalidValue
from billcycle.events import service as events
from billcycle.events.statuses import EventType, ObjectType
from billcycle.reports import service as reports

router = APIRouter(include_in_schema=False)


def _choice(value: str | None, allowed: list[str], field: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise InvalidValue(f"{field} is one of the listed values.", field=field)
    return value


# The console page of each kind of object an event is about.
_OBJECT_PAGES: dict[str, str] = {
    ObjectType.ACCOUNT: "/accounts/{}",
    ObjectType.INVOICE: "/invoices/{}",
    ObjectType.BILL_RUN: "/bill-runs/{}",
    ObjectType.BULK_JOB: "/bulk-jobs/{}",
    ObjectType.PAYMENT: "/payments/{}",
    ObjectType.PAYMENT_RUN: "/payment-runs/{}",
    ObjectType.WEBHOOK_ENDPOINT: "/webhooks/{}",
}


@router.get("/events")
def list_events(
    request: Request,
    viewer: CurrentViewer,
    type: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: str | None = None,
    after: str | None = None,
) -> Response:
    types = [t.value for t in EventType]
    object_types = [o.value for o in ObjectType]
    day = optional_date(since, "since")
    where = reports.EventFilter(
        event_type=_choice(type, types, "type"),
        object_type=_choice(object_type, object_types, "object_type"),
        object_id=optional_int(object_id, "object_id"),
        since=datetime.combine(day, time(0), tzinfo=UTC) if day else None,
    )
    found = read(
        request, viewer, lambda ctx: reports.events(ctx, where, after=after, limit=PAGE_SIZE)
    )
    return page(
        request,
        "events.html.j2",
        title="Events",
        events=found,
        types=types,
        object_types=object_types,
        type=type or "",
        object_type=object_type or "",
        object_id=object_id or "",
        since=since or "",
        object_pages=_OBJECT_PAGES,
    )


@router.get("/events/{event_id}")
def event_page(request: Request, viewer: CurrentViewer, event_id: str) -> Response:
    event = read(request, viewer, lambda ctx: events.get_event(ctx, event_id))
    link = _OBJECT_PAGES.get(event.object_type)
    return page(
        request,
        "event.html.j2",
        title=f"Event {event.event_id}",
        event=event,
        payload=json.dumps(event.payload, indent=2, sort_keys=True, default=str),
        object_link=link.format(event.object_id) if link else None,
    )
