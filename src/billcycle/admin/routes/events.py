"""``/v1/tenants/{tenant_id}/events`` and ``/v1/tenants/{tenant_id}/webhooks[...]``: a
tenant's outbox events (keyset-paged, oldest first), its webhook endpoints, their
deliveries and attempt log, manual re-delivery, test events, and its webhook settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import Response

from billcycle.admin.deps import AdminContext, Ctx, runtime_of
from billcycle.admin.paging import PageParams, paginate
from billcycle.admin.schemas.common import PROBLEM_RESPONSES, ListPage
from billcycle.admin.schemas.events import (
    AttemptOut,
    DeliveryOut,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointUpdate,
    EventOut,
    Queued,
    Redelivery,
    WebhookSettingsOut,
    WebhookSettingsUpdate,
)
from billcycle.context import ServiceContext
from billcycle.events import service as events
from billcycle.events.statuses import EventType, ObjectType
from billcycle.ids import is_ascii_digits
from billcycle.tenancy import management
from billcycle.unset import UNSET
from billcycle.webhooks import service as webhooks

router = APIRouter(prefix="/v1/tenants/{tenant_id}", tags=["Events"], responses=PROBLEM_RESPONSES)

TenantId = Path(ge=1, le=2**63 - 1, description="The tenant's id")
EndpointId = Path(ge=1, le=2**63 - 1, description="The webhook endpoint's id")
DeliveryId = Path(ge=1, le=2**63 - 1, description="The delivery's id")


@contextmanager
def _tenant(ctx: AdminContext, request: Request, tenant_id: int) -> Iterator[ServiceContext]:
    management.get_tenant(ctx.session, tenant_id)  # an unknown tenant is a 404
    yield runtime_of(request).context(ctx.session, tenant_id)


def _bad_query(parameter: str, message: str, value: object) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", parameter), "msg": message, "input": value}]
    )


def _object(value: str | None) -> tuple[ObjectType | None, int | None]:
    """``invoice`` or ``invoice:42``."""
    if value is None:
        return None, None
    kind, _, ident = value.partition(":")
    try:
        object_type = ObjectType(kind)
    except ValueError:
        raise _bad_query(
            "object",
            f"Unknown object type '{kind}'; one of {[t.value for t in ObjectType]}.",
            value,
        ) from None
    if not ident:
        return object_type, None
    if not is_ascii_digits(ident) or len(ident) > 19:
        raise _bad_query("object", "The object id after ':' must be a positive integer.", value)
    return object_type, int(ident)


def _types(values: list[str]) -> list[EventType]:
    types: list[EventType] = []
    for value in values:
        for part in value.split(","):
            if not part:
                continue
            try:
                types.append(EventType(part))
            except ValueError:
                raise _bad_query("type", f"Unknown event type '{part}'.", part) from None
    return types


@router.get("/events", response_model=ListPage[EventOut], summary="List a tenant's events")
def list_events(
    ctx: Ctx,
    page: PageParams,
    request: Request,
    response: Response,
    tenant_id: int = TenantId,
    type: Annotated[list[str], Query(description="Event types (repeat or comma-separate)")] = [],  # noqa: B006
    object: Annotated[
        str | None, Query(max_length=60, description="`invoice` or `invoice:42`")
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Events that occurred at or after this instant")
    ] = None,
) -> ListPage[EventOut]:
    """The outbox, oldest first; every change of the domain is here (docs/events.md)."""
    types = _types(type)
    object_type, object_id = _object(object)
    if since is not None and since.tzinfo is None:
        raise _bad_query("since", "The instant needs a time zone (e.g. Z).", str(since))
    with _tenant(ctx, request, tenant_id) as service:
        rows = events.list_events(
            service,
            types=types,
            object_type=object_type,
            object_id=object_id,
            since=since,
            after=page.after,
            limit=page.fetch,
        )
    shown = paginate(request, response, page, rows, lambda e: e.id)
    return ListPage[EventOut](data=[EventOut.of(e) for e in shown.items], next=shown.next)


# -- webhooks -------------------------------------------------------------------------------


@router.get("/webhook-settings", response_model=WebhookSettingsOut, summary="Get webhook settings")
def get_settings(ctx: Ctx, request: Request, tenant_id: int = TenantId) -> WebhookSettingsOut:
    with _tenant(ctx, request, tenant_id) as service:
        return WebhookSettingsOut(webhooks_allow_private=webhooks.allows_private(service))


@router.put(
    "/webhook-settings", response_model=WebhookSettingsOut, summary="Change webhook settings"
)
def put_settings(
    body: WebhookSettingsUpdate, ctx: Ctx, request: Request, tenant_id: int = TenantId
) -> WebhookSettingsOut:
    """``webhooks_allow_private``: allow endpoints on private addresses (SSRF rule)."""
    with _tenant(ctx, request, tenant_id) as service:
        value = webhooks.set_allow_private(service, body.webhooks_allow_private)
        return WebhookSettingsOut(webhooks_allow_private=value)


@router.post(
    "/webhooks", status_code=201, response_model=EndpointCreated, summary="Add a webhook endpoint"
)
def add_endpoint(
    body: EndpointCreate, ctx: Ctx, request: Request, tenant_id: int = TenantId
) -> EndpointCreated:
    """The answer shows the signing secret, once."""
    with _tenant(ctx, request, tenant_id) as service:
        endpoint = webhooks.add_endpoint(
            service,
            webhooks.NewEndpoint(
                url=str(body.url),
                event_types=body.event_types,
                secret=body.secret,
                description=body.description,
                enabled=body.enabled,
            ),
        )
        return EndpointCreated(**EndpointOut.of(endpoint).model_dump(), secret=endpoint.secret)


@router.get("/webhooks", response_model=ListPage[EndpointOut], summary="List webhook endpoints")
def list_endpoints(
    ctx: Ctx, page: PageParams, request: Request, response: Response, tenant_id: int = TenantId
) -> ListPage[EndpointOut]:
    with _tenant(ctx, request, tenant_id) as service:
        rows = webhooks.list_endpoints(service, after=page.after, limit=page.fetch)
    shown = paginate(request, response, page, rows, lambda e: e.id)
    return ListPage[EndpointOut](data=[EndpointOut.of(e) for e in shown.items], next=shown.next)


@router.get("/webhooks/{endpoint_id}", response_model=EndpointOut, summary="Get a webhook endpoint")
def get_endpoint(
    ctx: Ctx, request: Request, tenant_id: int = TenantId, endpoint_id: int = EndpointId
) -> EndpointOut:
    with _tenant(ctx, request, tenant_id) as service:
        return EndpointOut.of(webhooks.get_endpoint(service, endpoint_id))


@router.patch(
    "/webhooks/{endpoint_id}", response_model=EndpointOut, summary="Change a webhook endpoint"
)
def update_endpoint(
    body: EndpointUpdate,
    ctx: Ctx,
    request: Request,
    tenant_id: int = TenantId,
    endpoint_id: int = EndpointId,
) -> EndpointOut:
    """Enabling a disabled endpoint clears its failure streak."""
    sent = body.model_fields_set
    changes = webhooks.EndpointChanges(
        url=str(body.url) if "url" in sent and body.url is not None else UNSET,
        event_types=body.event_types if "event_types" in sent and body.event_types else UNSET,
        secret=body.secret if "secret" in sent and body.secret is not None else UNSET,
        description=body.description if "description" in sent else UNSET,
        enabled=body.enabled if "enabled" in sent and body.enabled is not None else UNSET,
    )
    with _tenant(ctx, request, tenant_id) as service:
        return EndpointOut.of(webhooks.update_endpoint(service, endpoint_id, changes))


@router.delete("/webhooks/{endpoint_id}", status_code=204, summary="Remove a webhook endpoint")
def remove_endpoint(
    ctx: Ctx, request: Request, tenant_id: int = TenantId, endpoint_id: int = EndpointId
) -> Response:
    with _tenant(ctx, request, tenant_id) as service:
        webhooks.remove_endpoint(service, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/webhooks/{endpoint_id}/test",
    status_code=202,
    response_model=Queued,
    summary="Send a test event",
)
def send_test_event(
    ctx: Ctx, request: Request, tenant_id: int = TenantId, endpoint_id: int = EndpointId
) -> Queued:
    """A ``webhook.test`` event for this endpoint only, delivered by the workers."""
    with _tenant(ctx, request, tenant_id) as service:
        event = webhooks.send_test(service, endpoint_id)
        return Queued(event_id=event.event_id, deliveries=1)


@router.get(
    "/webhooks/{endpoint_id}/deliveries",
    response_model=ListPage[DeliveryOut],
    summary="List an endpoint's deliveries",
)
def list_deliveries(
    ctx: Ctx,
    page: PageParams,
    request: Request,
    response: Response,
    tenant_id: int = TenantId,
    endpoint_id: int = EndpointId,
) -> ListPage[DeliveryOut]:
    """Newest first."""
    with _tenant(ctx, request, tenant_id) as service:
        rows = webhooks.deliveries(service, endpoint_id, after=page.after, limit=page.fetch)
    shown = paginate(request, response, page, rows, lambda r: r[0].id)
    return ListPage[DeliveryOut](data=[DeliveryOut.of(r) for r in shown.items], next=shown.next)


@router.get(
    "/webhook-deliveries/{delivery_id}/attempts",
    response_model=list[AttemptOut],
    summary="A delivery's attempt log",
)
def list_attempts(
    ctx: Ctx, request: Request, tenant_id: int = TenantId, delivery_id: int = DeliveryId
) -> list[AttemptOut]:
    """Status code, latency and the start of the answer of every attempt."""
    with _tenant(ctx, request, tenant_id) as service:
        return [AttemptOut.of(a) for a in webhooks.attempts(service, delivery_id)]


@router.post(
    "/events/{event_id}/redeliver",
    status_code=202,
    response_model=Queued,
    summary="Deliver an event again",
)
def redeliver(
    ctx: Ctx,
    request: Request,
    body: Redelivery | None = None,
    tenant_id: int = TenantId,
    event_id: str = Path(max_length=40, description="The event's id (`evt_...`)"),
) -> Queued:
    """A new delivery (fresh retry schedule) to one endpoint or to every endpoint the
    event went to or now subscribes to it."""
    with _tenant(ctx, request, tenant_id) as service:
        count = webhooks.redeliver(service, event_id, body.endpoint_id if body else None)
    return Queued(event_id=event_id, deliveries=count)
