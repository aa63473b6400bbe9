"""The Zuora dialect as a FastAPI sub-application mounted at ``/zuora``.

Its own OpenAPI document and interactive docs live at ``/zuora/docs``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from billcycle.errors import DomainError
from billcycle.web.protocol_stack import add_protocol_middleware
from billcycle.zuora.deps import identify
from billcycle.zuora.errors import domain_error_response, error_response
from billcycle.zuora.protocol import ZuoraProtocolMiddleware
from billcycle.zuora.unknown_fields import reject_unknown_fields

log = logging.getLogger(__name__)

DESCRIPTION = """
billcycle's implementation of the **Zuora v1 REST API**. Point a Zuora client (for
example `zuora-sdk`) at `http://HOST:PORT/zuora` instead of `https://rest.zuora.com`.

Get a token with `POST /oauth/token` (the client id and secret printed by
`billcycle tenant create`), then send `Authorization: Bearer <token>`.
Errors use Zuora's `success/reasons` envelope; ids are 32 lowercase hex digits.

A token that covers several entities (`billcycle tenant grant`) needs `Zuora-Entity-Ids`
on every call; `Zuora-Org-Ids` narrows a call to some of the caller's organizations.
Every POST and PATCH takes `Idempotency-Key` (1 to 255 characters: the first answer is
replayed for 24 hours; 409 while it runs; 422 for the key with another entity, method, URL
or body). Every answer carries `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset`; past the limit: 429 with `Retry-After` and code 50000070.
Limits, checked before anything else (each answers a 4xx and changes nothing): request
line 8 KiB, request head 16 KiB and 100 headers (431); body 10 MiB after gzip (413); in a
JSON body, text values up to 65,536 characters; no NUL
character or unpaired UTF-16 surrogate in any text (400); `page` up to 100,000,000.
Request fields have the `maxLength`/`maxItems` Zuora's own OpenAPI document gives them
(400 beyond).
"""


def _validation_category(error_type: str) -> int:
    if error_type == "missing":
        return 22
    if error_type == "json_invalid":
        return 90
    if error_type == "extra_forbidden":
        return 21
    return 20


def _describe(errors: list[dict[str, Any]]) -> tuple[int, str]:
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    category = _validation_category(str(first.get("type", "")))
    if category == 90:
        return 90, "Malformed JSON in the request body."
    field = ".".join(loc)
    message = str(first.get("msg", "invalid value"))
    if category == 22:
        return 22, f"Missing required field: {field}." if field else "Missing request body."
    return category, f"Invalid value for field {field}: {message}." if field else message


# FastAPI matches a request against every route in turn (~1 µs each, 44 routes), so
# the routers of the hot paths (polling a bill run, creating accounts) come first. The
# routers' prefixes are disjoint, so the order changes which route is tried first, never
# which one matches; the OpenAPI document keeps the docs' order.
HOT_PREFIXES = ("/v1/bill-runs", "/v1/accounts")


def matching_order(routers: Sequence[APIRouter]) -> list[APIRouter]:
    return sorted(routers, key=lambda router: router.prefix not in HOT_PREFIXES)


def _openapi_in_order(app: FastAPI, routers: Sequence[APIRouter]) -> Callable[[], dict[str, Any]]:
    order = [
        route.path_format
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        paths: dict[str, Any] = schema.get("paths", {})
        ordered = {path: paths[path] for path in dict.fromkeys(order) if path in paths}
        ordered.update(paths)
        schema["paths"] = ordered
        return schema

    return openapi


def create_zuora_app() -> FastAPI:
    from billcycle.zuora.routes import oauth
    from billcycle.zuora.routes.registry import RESOURCE_ROUTERS

    app = FastAPI(
        title="billcycle — Zuora v1 API",
        description=DESCRIPTION,
        version="v1",
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.include_router(oauth.router)
    for router in matching_order(RESOURCE_ROUTERS):
        app.include_router(router, dependencies=[Depends(reject_unknown_fields)])
    app.openapi = _openapi_in_order(app, [oauth.router, *RESOURCE_ROUTERS])  # type: ignore[method-assign]

    @app.exception_handler(DomainError)
    async def on_domain_error(request: Request, exc: DomainError) -> Response:
        return domain_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        category, message = _describe(list(exc.errors()))
        return error_response(request, category, message)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(request, 40, "The requested resource does not exist.")
        if exc.status_code == 405:
            return error_response(request, 45, "Method not allowed.", status=405)
        return error_response(request, 20, str(exc.detail), status=exc.status_code)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 60, "An internal error occurred; it has been logged.")

    # The polled reads are answered before the root app's router reaches this app
    # (billcycle.zuora.hot_reads, added by billcycle.web.app).
    add_protocol_middleware(app, identify=identify, render_error=_protocol_error)
    app.add_middleware(ZuoraProtocolMiddleware)
    return app


def _protocol_error(scope: Scope, status: int, message: str) -> Response:
    """Idempotency-Key refusals: 400 (bad key), 409 (in progress), 422 (other request)."""
    category = 50 if status == 409 else 20
    return error_response(Request(scope), category, message, status=status)
