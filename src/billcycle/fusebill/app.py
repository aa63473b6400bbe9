"""The Fusebill dialect as a FastAPI sub-application mounted at ``/fusebill``.

``https://secure.fusebill.com/v1/...`` becomes ``http://HOST:PORT/fusebill/v1/...``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from billcycle.errors import DomainError
from billcycle.fusebill.deps import identify
from billcycle.fusebill.errors import domain_error_response, error_response
from billcycle.fusebill.paths import FusebillPathMiddleware
from billcycle.web.protocol_stack import add_protocol_middleware

log = logging.getLogger(__name__)

DESCRIPTION = """
billcycle's implementation of the **Fusebill API** (v1). Send
`Authorization: Basic {apiKey}` with the raw API key printed by `billcycle tenant create`.
Paths are case-insensitive; errors use Fusebill's `ErrorId/HttpStatusCode/Errors` envelope.

billcycle extensions: every POST and PATCH takes `Idempotency-Key` (1 to 255 characters:
the first answer is replayed for 24 hours; 409 while it runs; 422 for the key with another
method, URL or body); every answer carries `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset`, and past the tenant's limit the answer is 429 with `Retry-After`.
Limits, checked before anything else (each answers a 4xx and changes nothing): request
line 8 KiB, request head 16 KiB and 100 headers (431); body 10 MiB after gzip (413); in a
JSON body, text values up to 65,536 characters; no NUL
character or unpaired UTF-16 surrogate in any text (400); `pageNumber` up to 100,000,000.
"""


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0]
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON."
    loc = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    message = str(first.get("msg", "invalid value"))
    return f"{loc}: {message}" if loc else message


def create_fusebill_app() -> FastAPI:
    from billcycle.fusebill.routes.registry import FUSEBILL_ROUTERS

    app = FastAPI(
        title="billcycle — Fusebill API",
        description=DESCRIPTION,
        version="v1",
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    for router in FUSEBILL_ROUTERS:
        app.include_router(router)

    @app.exception_handler(DomainError)
    async def on_domain_error(_request: Request, exc: DomainError) -> Response:
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_request: Request, exc: RequestValidationError) -> Response:
        return error_response(400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(404, "The requested resource was not found.")
        if exc.status_code == 405:
            return error_response(405, "The requested resource does not support this method.")
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "An internal error occurred; it has been logged.")

    add_protocol_middleware(
        app,
        identify=identify,
        render_error=lambda _scope, status, message: error_response(status, message),
    )
    app.add_middleware(FusebillPathMiddleware)
    return app
