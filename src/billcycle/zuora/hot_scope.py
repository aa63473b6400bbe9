"""What the hot fronts (``hot_reads``, ``hot_writes``) share: they answer a request
before the /zuora mount, FastAPI's router and its dependency machinery run, so they
find their route, leave the scope as the mount and router would have, read the caller
from the scope as the route's dependencies would, and answer an unhandled error as the
Zuora app's own handler does."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from billcycle.web.units import Units
from billcycle.zuora.deps import zuora_units
from billcycle.zuora.errors import error_response

MOUNT = "/zuora"


def route_of(router: APIRouter, template: str, method: str) -> APIRoute:
    """The route the Zuora app's router would have chosen (FastAPI notes the route of the
    included router itself as the request's ``route``)."""
    for route in router.routes:
        if (
            isinstance(route, APIRoute)
            and route.path == template
            and method in (route.methods or ())
        ):
            return route
    raise LookupError(f"the Zuora app has no {method} {template}")


def as_routed(scope: Scope, zuora: FastAPI, route: APIRoute, path_params: dict[str, Any]) -> None:
    """Leave the scope as the /zuora mount and the router would have (the request's log
    line and metrics name the route's template; the audit notes the route)."""
    scope["app"] = zuora
    scope["root_path"] = MOUNT
    scope["route"] = route
    scope["endpoint"] = route.endpoint
    scope["path_params"] = path_params


def bearer_credentials(scope: Scope) -> HTTPAuthorizationCredentials | None:
    """What ``HTTPBearer(auto_error=False)`` gives the route."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, token = get_authorization_scheme_param(value.decode("latin-1"))
            if not (scheme and token) or scheme.lower() != "bearer":
                return None
            return HTTPAuthorizationCredentials(scheme=scheme, credentials=token)
    return None


def header_text(scope: Scope, wanted: bytes) -> str | None:
    """The first ``wanted`` header's value (lower-case name), as Starlette decodes it."""
    for name, value in scope["headers"]:
        if name == wanted:
            text: str = value.decode("latin-1")
            return text
    return None


async def caller_units(request: Request) -> Units:
    """The route's ``Work`` dependency, its inputs read from the scope."""
    scope = request.scope
    return await zuora_units(
        request,
        bearer_credentials(scope),
        header_text(scope, b"zuora-entity-ids"),
        header_text(scope, b"zuora-org-ids"),
    )


async def answer_unhandled(
    request: Request, receive: Receive, send: Send, log: logging.Logger
) -> None:
    """What the Zuora app's own handler answers to an unhandled error (a well-formed
    envelope), the error logged; the caller raises it on for the server, as Starlette
    does."""
    scope = request.scope
    log.exception("unhandled error on %s %s", scope["method"], scope["path"])
    await error_response(request, 60, "An internal error occurred; it has been logged.")(
        scope, receive, send
    )
