"""The tenant's webhook endpoints: the list, each endpoint's delivery log, and managing
them (add, enable, disable, remove, send a test event, deliver an event again) through
``webhooks.service``, the same calls as ``billcycle webhook`` and the admin API.

The signing secret is shown once, on the page that answers the add form (drawn there, not
carried through a redirect's cookie), and never again."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from billcycle.console.pages.common import (
    PAGE_SIZE,
    CurrentViewer,
    _record,
    act,
    form_text,
    optional_int,
    read,
    units,
)
from billcycle.console.render import page
from billcycle.console.session import Viewer, checked_form, runtime_of
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue
from billcycle.webhooks import service as webhooks

router = APIRouter(include_in_schema=False)
OBJECT = "webhook_endpoint"
# The longest description an endpoint keeps (its column, and the admin API's limit).
DESCRIPTION_MAX = 255
FIELDS = ("url", "event_types", "secret", "description")
# Every type an endpoint can subscribe to, "*" (all) first.
CHOICES = [webhooks.ALL, *sorted(webhooks.SUBSCRIBABLE)]


@router.get("/webhooks")
def list_endpoints(request: Request, viewer: CurrentViewer, after: str | None = None) -> Response:
    cursor = optional_int(after, "after")
    found = read(
        request,
        viewer,
        lambda ctx: webhooks.list_endpoints(ctx, after=cursor, limit=PAGE_SIZE + 1),
    )
    more = len(found) > PAGE_SIZE
    rows = found[:PAGE_SIZE]
    return page(
        request,
        "webhooks.html.j2",
        title="Webhook endpoints",
        endpoints=rows,
        next_after=rows[-1].id if more and rows else None,
    )


def _form_page(
    request: Request, values: dict[str, Any], errors: dict[str, str], code: int = 200
) -> Response:
    return page(
        request,
        "webhook_new.html.j2",
        code=code,
        title="New webhook endpoint",
        choices=CHOICES,
        values=values,
        errors=errors,
    )


@router.get("/webhooks/new")
def new_endpoint_form(request: Request, viewer: CurrentViewer) -> Response:
    return _form_page(request, {"url": "", "event_types": [], "description": ""}, {})


def _new_endpoint(form: FormData) -> webhooks.NewEndpoint:
    """The form as the service's input; an empty secret asks the service for one."""
    description = form_text(form, "description")
    if len(description) > DESCRIPTION_MAX:
        raise InvalidValue(
            f"The description is at most {DESCRIPTION_MAX} characters.", field="description"
        )
    secret = form_text(form, "secret")
    return webhooks.NewEndpoint(
        url=form_text(form, "url"),
        event_types=[v for v in form.getlist("event_types") if isinstance(v, str)],
        secret=secret or None,
        description=description or None,
    )


@router.post("/webhooks/new")
async def add_endpoint(request: Request, viewer: CurrentViewer) -> Response:
    form = await checked_form(request, viewer)
    runtime = runtime_of(request)

    def work(ctx: ServiceContext) -> tuple[int, str]:
        endpoint = webhooks.add_endpoint(ctx, _new_endpoint(form))
        return endpoint.id, endpoint.secret

    try:
        endpoint_id, secret = await units(request, viewer).write(work)
    except InvalidValue as exc:
        at = runtime.machine_clock.now()
        _record(request, viewer, at, "add_webhook", "tenant", viewer.tenant_id, "refused")
        values = {
            "url": form_text(form, "url"),
            "event_types": form.getlist("event_types"),
            "description": form_text(form, "description"),
        }  # never the secret: it is typed again
        field = exc.field if exc.field in FIELDS else "form"
        return _form_page(request, values, {field: str(exc)}, code=400)
    _record(request, viewer, runtime.machine_clock.now(), "add_webhook", OBJECT, endpoint_id, "ok")
    return _endpoint_page(request, viewer, endpoint_id, None, secret=secret)


def _endpoint_page(
    request: Request,
    viewer: Viewer,
    endpoint_id: int,
    cursor: int | None,
    *,
    secret: str | None = None,
) -> Response:
    def work(ctx: ServiceContext) -> tuple[Any, Any]:
        endpoint = webhooks.get_endpoint(ctx, endpoint_id)
        return endpoint, webhooks.deliveries(ctx, endpoint.id, after=cursor, limit=PAGE_SIZE + 1)

    endpoint, found = read(request, viewer, work)
    more = len(found) > PAGE_SIZE
    rows = found[:PAGE_SIZE]
    return page(
        request,
        "webhook.html.j2",
        title="Webhook endpoint",
        endpoint=endpoint,
        deliveries=rows,
        next_after=rows[-1][0].id if more and rows else None,
        secret=secret,
    )


@router.get("/webhooks/{endpoint_id}")
def endpoint_page(
    request: Request, viewer: CurrentViewer, endpoint_id: int, after: str | None = None
) -> Response:
    return _endpoint_page(request, viewer, endpoint_id, optional_int(after, "after"))


async def _act(
    request: Request,
    viewer: Viewer,
    endpoint_id: int,
    action: str,
    work: Any,
    notice: str,
    back: str | None = None,
) -> Response:
    await checked_form(request, viewer)
    return await act(
        request,
        viewer,
        action=action,
        object_type=OBJECT,
        object_id=endpoint_id,
        work=work,
        back=back or f"/webhooks/{endpoint_id}",
        notice=notice,
    )


@router.post("/webhooks/{endpoint_id}/enable")
async def enable(request: Request, viewer: CurrentViewer, endpoint_id: int) -> Response:
    changes = webhooks.EndpointChanges(enabled=True)
    return await _act(
        request,
        viewer,
        endpoint_id,
        "enable_webhook",
        lambda ctx: webhooks.update_endpoint(ctx, endpoint_id, changes),
        "The endpoint is enabled; its failure streak was cleared.",
    )


@router.post("/webhooks/{endpoint_id}/disable")
async def disable(request: Request, viewer: CurrentViewer, endpoint_id: int) -> Response:
    changes = webhooks.EndpointChanges(enabled=False)
    return await _act(
        request,
        viewer,
        endpoint_id,
        "disable_webhook",
        lambda ctx: webhooks.update_endpoint(ctx, endpoint_id, changes),
        "The endpoint is disabled: no event is sent to it until it is enabled.",
    )


@router.post("/webhooks/{endpoint_id}/remove")
async def remove(request: Request, viewer: CurrentViewer, endpoint_id: int) -> Response:
    return await _act(
        request,
        viewer,
        endpoint_id,
        "remove_webhook",
        lambda ctx: webhooks.remove_endpoint(ctx, endpoint_id),
        f"Webhook endpoint {endpoint_id} was removed.",
        back="/webhooks",
    )


@router.post("/webhooks/{endpoint_id}/test")
async def send_test(request: Request, viewer: CurrentViewer, endpoint_id: int) -> Response:
    return await _act(
        request,
        viewer,
        endpoint_id,
        "test_webhook",
        lambda ctx: webhooks.send_test(ctx, endpoint_id),
        "A webhook.test event was queued for this endpoint.",
    )


@router.post("/webhooks/{endpoint_id}/events/{event_id}/redeliver")
async def redeliver(
    request: Request, viewer: CurrentViewer, endpoint_id: int, event_id: str
) -> Response:
    return await _act(
        request,
        viewer,
        endpoint_id,
        "redeliver_webhook",
        lambda ctx: webhooks.redeliver(ctx, event_id, endpoint_id),
        f"Event {event_id} was queued for delivery again (a fresh retry schedule).",
    )
