"""``collections.events.record``: every event appended to the log in the order given,
dated by the given business day, and the outbox event of each type that has one
(``collections.dunning_step``, ``collections.standing_changed``,
``collections.status_changed``), its payload the account's collections event as the
webhooks receive it. Outbox events are grouped by type in the order each type first
appears, in the given order within a type. Both databases."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from billcycle.collections.events import Event, record
from billcycle.collections.models import CollectionEvent
from billcycle.collections.statuses import CollectionEventType
from billcycle.events.models import Event as OutboxEvent
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.invoicing.factories import make_account

DAY = date(2026, 1, 9)


def _events(first: int, second: int) -> list[Event]:
    long = "m" * 600
    return [
        Event(
            first,
            CollectionEventType.ATTEMPT,
            invoice_id=11,
            message="Collection attempt for INV00000011 by payment run PR-00000001, day 1",
            details={"attemptDay": 1, "amountMinor": 3000, "paymentRun": "PR-00000001"},
        ),
        Event(
            second,
            CollectionEventType.STANDING_CHANGED,
            invoice_id=12,
            from_value="Good",
            to_value="PoorStanding",
        ),
        Event(
            first,
            CollectionEventType.PAYMENT_FAILED,
            payment_id=77,
            gateway_code="card_declined",
            message="Declined",
            to_value="Error",
            details={"paymentNumber": "P-00000077", "amountMinor": 3000},
        ),
        Event(
            second,
            CollectionEventType.ATTEMPT,
            invoice_id=13,
            message=long,
            details={"attemptDay": 3, "amountMinor": 1, "paymentRun": None},
        ),
        Event(
            first,
            CollectionEventType.SUSPENDED,
            from_value="Active",
            to_value="Suspended",
            details={"subscriptions": [5, 6], "refused": {"S-1": "a term that ends today"}},
        ),
        Event(
            second, CollectionEventType.STANDING_CHANGED, from_value="PoorStanding", to_value="Good"
        ),
        Event(first, CollectionEventType.EMAIL_SENT, message=""),
    ]


def test_events_and_their_outbox_events(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    with runtime.service_context(t) as ctx:
        first = make_account(ctx).id
        second = make_account(ctx).id
        now = ctx.clock.now()
    given = _events(first, second)
    with runtime.service_context(t) as ctx:
        record(ctx, *given, day=DAY)
        record(ctx)  # nothing: nothing written
    with runtime.service_context(t) as ctx:
        log = ctx.session.scalars(
            select(CollectionEvent)
            .where(CollectionEvent.tenant_id == t)
            .order_by(CollectionEvent.id)
        ).all()
        outbox = ctx.session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.tenant_id == t, OutboxEvent.type.like("collections.%"))
            .order_by(OutboxEvent.id)
        ).all()
        written = [
            (
                row.account_id,
                row.event_type,
                row.business_date,
                row.occurred_at,
                row.invoice_id,
                row.payment_id,
                row.gateway_code,
                row.message,
                row.from_value,
                row.to_value,
                row.details,
            )
            for row in log
        ]
        shown = [
            (e.type, e.object_type, e.object_id, e.occurred_at, e.fanned_out, e.payload)
            for e in outbox
        ]
        event_ids = [e.event_id for e in outbox]
    assert written == [
        (
            e.account_id,
            e.event_type.value,
            DAY,
            now,
            e.invoice_id,
            e.payment_id,
            e.gateway_code,
            e.message[:500] if e.message else None,
            e.from_value,
            e.to_value,
            e.details,
        )
        for e in given
    ]

    def payload(e: Event) -> dict[str, Any]:
        return {
            "object": {
                "id": e.account_id,
                "account_id": e.account_id,
                "collection_event": e.event_type.value,
                "business_date": "2026-01-09",
                "invoice_id": e.invoice_id,
                "from": e.from_value,
                "to": e.to_value,
                "message": e.message,
                "details": e.details,
            }
        }

    step, standing, status = (
        "collections.dunning_step",
        "collections.standing_changed",
        "collections.status_changed",
    )
    expected = [
        (step, given[0]),
        (step, given[3]),
        (step, given[6]),
        (standing, given[1]),
        (standing, given[5]),
        (status, given[4]),
    ]
    assert shown == [
        (kind, "account", e.account_id, now, False, payload(e)) for kind, e in expected
    ]
    assert all(i.startswith("evt_") and len(i) == 30 for i in event_ids)
    assert event_ids == sorted(event_ids)
    assert len(set(event_ids)) == len(event_ids)
