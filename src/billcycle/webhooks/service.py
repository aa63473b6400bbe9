"""Managing a tenant's webhook endpoints and settings; test events and re-delivery.

Every input is checked before anything changes: an http(s) URL whose host resolves, to
public addresses only unless the tenant allows private ones; event types that exist;
a secret of at least 24 bytes (one is generated when none is given).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, NotFound
from billcycle.events import service as events
from billcycle.events.models import Event
from billcycle.events.statuses import EventType
from billcycle.unset import UNSET, Unset
from billcycle.webhooks import addresses, signing
from billcycle.webhooks import repository as repo
from billcycle.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from billcycle.webhooks.schedule import RETRY_WINDOW
from billcycle.webhooks.statuses import DeliveryStatus

RESOURCE = "webhook_endpoint"
# Subscribing to every event type.
ALL = repo.ALL
SUBSCRIBABLE = frozenset(t.value for t in EventType if t != EventType.WEBHOOK_TEST)


def _not_found(endpoint_id: int) -> NotFound:
    return NotFound(
        "Webhook endpoint {endpoint} not found.", resource=RESOURCE, ids={"endpoint": endpoint_id}
    )


def check_event_types(types: Sequence[str]) -> list[str]:
    wanted = [t.strip() for t in types if t.strip()]
    if not wanted:
        raise InvalidValue(
            "At least one event type is required ('*' for all).",
            resource=RESOURCE,
            field="event_types",
        )
    unknown = sorted({t for t in wanted if t != ALL and t not in SUBSCRIBABLE})
    if unknown:
        raise InvalidValue(
            f"Unknown event type(s): {', '.join(unknown)}. "
            f"Known: {', '.join(sorted(SUBSCRIBABLE))}.",
            resource=RESOURCE,
            field="event_types",
        )
    return [ALL] if ALL in wanted else sorted(set(wanted))


def subscribes(endpoint_types: Sequence[str], event_type: str) -> bool:
    return ALL in endpoint_types or event_type in endpoint_types


@dataclass(frozen=True)
class NewEndpoint:
    url: str
    event_types: Sequence[str]
    secret: str | None = None
    description: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class EndpointChanges:
    url: str | Unset = UNSET
    event_types: Sequence[str] | Unset = UNSET
    secret: str | Unset = UNSET
    description: str | Unset | None = UNSET
    enabled: bool | Unset = UNSET


def subscribed(ctx: ServiceContext, event_type: EventType) -> bool:
    """Whether an enabled endpoint of the tenant wants ``event_type``."""
    return any(
        subscribes(e.event_types, event_type.value)
        for e in repo.enabled_endpoints(ctx.session, [ctx.tenant_id])
    )


def subscribed_among(ctx: ServiceContext, event_types: Sequence[EventType]) -> frozenset[EventType]:
    """Those of ``event_types`` an enabled endpoint of the tenant wants: what
    :func:`subscribed` answers for each, from ONE read of the endpoints' event types
    (a payment run's slice asks at its begin and for two kinds at its finish), as Core:
    unlike :func:`subscribed` it does not flush the session's pending ORM changes first
    (its callers, a payment run's phases, write theirs as statements)."""
    endpoints = repo.enabled_event_types(ctx.session, ctx.tenant_id)
    return frozenset(
        t for t in event_types if any(subscribes(types, t.value) for types in endpoints)
    )


def allows_private(ctx: ServiceContext) -> bool:
    return repo.allow_private(ctx.session, ctx.tenant_id)


def set_allow_private(ctx: ServiceContext, value: bool) -> bool:
    repo.set_allow_private(ctx.session, ctx.tenant_id, value)
    return value


def add_endpoint(ctx: ServiceContext, new: NewEndpoint) -> WebhookEndpoint:
    types = check_event_types(new.event_types)
    secret = signing.check_secret(new.secret) if new.secret is not None else signing.new_secret()
    url = new.url.strip()
    addresses.check_url(url, allow_private=allows_private(ctx))
    now = ctx.machine_clock.now()
    return repo.add_endpoint(
        ctx.session,
        WebhookEndpoint(
            tenant_id=ctx.tenant_id,
            url=url,
            event_types=types,
            secret=secret,
            description=new.description,
            enabled=new.enabled,
            created_at=now,
            updated_at=now,
        ),
    )


def get_endpoint(ctx: ServiceContext, endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    endpoint = repo.get_endpoint(ctx.session, ctx.tenant_id, endpoint_id, lock=lock)
    if endpoint is None:
        raise _not_found(endpoint_id)
    return endpoint


def list_endpoints(
    ctx: ServiceContext, *, after: int | None = None, limit: int = 100
) -> list[WebhookEndpoint]:
    return repo.list_endpoints(ctx.session, ctx.tenant_id, after=after, limit=limit)


def update_endpoint(
    ctx: ServiceContext, endpoint_id: int, changes: EndpointChanges
) -> WebhookEndpoint:
    endpoint = get_endpoint(ctx, endpoint_id, lock=True)
    url = changes.url.strip() if changes.url is not UNSET else None
    if url is not None:
        addresses.check_url(url, allow_private=allows_private(ctx))
    types = check_event_types(changes.event_types) if changes.event_types is not UNSET else None
    secret = signing.check_secret(changes.secret) if changes.secret is not UNSET else None
    if url is not None:
        endpoint.url = url
    if types is not None:
        endpoint.event_types = types
    if secret is not None:
        endpoint.secret = secret
    if changes.description is not UNSET:
        endpoint.description = changes.description
    if changes.enabled is not UNSET:
        endpoint.enabled = changes.enabled
        if changes.enabled:
            endpoint.failing_since = None
            endpoint.disabled_reason = None
    endpoint.updated_at = ctx.machine_clock.now()
    ctx.session.flush()
    return endpoint


def remove_endpoint(ctx: ServiceContext, endpoint_id: int) -> None:
    if not repo.delete_endpoint(ctx.session, ctx.tenant_id, endpoint_id):
        raise _not_found(endpoint_id)


def _new_delivery(ctx: ServiceContext, endpoint_id: int, event: Event) -> dict[str, object]:
    now = ctx.machine_clock.now()
    return {
        "tenant_id": ctx.tenant_id,
        "endpoint_id": endpoint_id,
        "event_id": event.id,
        "object_key": f"{event.object_type}:{event.object_id}",
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "give_up_at": now + RETRY_WINDOW,
        "created_at": now,
    }


def send_test(ctx: ServiceContext, endpoint_id: int) -> Event:
    """A ``webhook.test`` event for this endpoint only, queued for delivery."""
    endpoint = get_endpoint(ctx, endpoint_id)
    # Fanned out already: for this endpoint alone.
    event = events.record(
        ctx, EventType.WEBHOOK_TEST, {"id": endpoint.id, "url": endpoint.url}, fanned_out=True
    )
    repo.add_deliveries(ctx.session, [_new_delivery(ctx, endpoint.id, event)])
    return event


def redeliver(ctx: ServiceContext, event_id: str, endpoint_id: int | None = None) -> int:
    """Deliver an event again (to one endpoint, or to every endpoint it went to, or that
    subscribes to it now); returns how many deliveries were queued."""
    event = events.get_event(ctx, event_id)
    if endpoint_id is not None:
        targets = [get_endpoint(ctx, endpoint_id)]
    else:
        earlier = repo.deliveries_of_event(ctx.session, ctx.tenant_id, event.id, None)
        before = {d.endpoint_id for d in earlier}
        targets = [
            e
            for e in repo.list_endpoints(ctx.session, ctx.tenant_id, limit=10_000)
            if e.id in before or subscribes(e.event_types, event.type)
        ]
    repo.add_deliveries(ctx.session, [_new_delivery(ctx, e.id, event) for e in targets])
    return len(targets)


def deliveries(
    ctx: ServiceContext, endpoint_id: int, *, after: int | None = None, limit: int = 100
) -> list[tuple[WebhookDelivery, str, str]]:
    get_endpoint(ctx, endpoint_id)
    return repo.list_deliveries(ctx.session, ctx.tenant_id, endpoint_id, after=after, limit=limit)


def attempts(ctx: ServiceContext, delivery_id: int) -> list[WebhookAttempt]:
    if repo.get_delivery(ctx.session, ctx.tenant_id, delivery_id) is None:
        raise NotFound(
            "Webhook delivery {delivery} not found.",
            resource="webhook_delivery",
            ids={"delivery": delivery_id},
        )
    return repo.attempts_of(ctx.session, ctx.tenant_id, delivery_id)
