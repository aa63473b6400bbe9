"""The hot write answered before routing: ``POST /zuora/v1/accounts``.

Through the application a POST paid, on the event loop, the root app's FastAPI wrappers
(telemetry check, server-error and body-limit middleware), the root router and the
``/zuora`` mount, the Zuora app's own FastAPI wrappers, its router over every route and
FastAPI's request handler with its dependency solving (~20% of a POST's server CPU once
its write left the writer threads: docs/benchmarks.md, "POST accounts on PostgreSQL
(session 8, pgpost)").

:class:`HotWritesFront` sits in the root app just inside the layers every request passes
(observability, head limits, the body guard, gzip: unchanged) and sends a POST of exactly
``/zuora/v1/accounts`` (no query string, a JSON content type) through the Zuora app's own
middleware, the same classes with the same settings, built once in the same order
(the dialect's protocol headers, rate-limit headers, the audit log, ``Idempotency-Key``),
to a handler that does what the route does, with the functions the route uses: the body
parsed and validated by the route's own model, the same authentication
(:func:`billcycle.zuora.deps.zuora_units`: rate limit, caller noted for the audit), the
same answer (:func:`billcycle.zuora.routes.accounts.created_account`), the same error
envelope. A body the model refuses (or anything the handler does not take) goes on,
body and all, to the Zuora app's exception middleware and router below the same
middleware (not through them twice), which answer it as ever; the OpenAPI document is
the route's, unchanged.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from billcycle.errors import DomainError
from billcycle.web.idempotency import buffered_body
from billcycle.web.responses import json_response
from billcycle.zuora.errors import domain_error_response
from billcycle.zuora.hot_scope import (
    MOUNT,
    answer_unhandled,
    as_routed,
    caller_units,
    route_of,
)
from billcycle.zuora.routes import accounts
from billcycle.zuora.schemas.accounts import CreateAccountRequest

log = logging.getLogger(__name__)

PATH = f"{MOUNT}/v1/accounts"
TEMPLATE = "/v1/accounts"


def hot_write_shaped(scope: Scope) -> bool:
    """Whether a request may be the hot write (``web.app`` lets it skip FastAPI's own
    wrappers; :class:`HotWritesFront` takes it): ``POST /zuora/v1/accounts``, no query
    string, ``Content-Type: application/json`` (with any parameters)."""
    if scope["method"] != "POST" or scope["path"] != PATH or scope["query_string"]:
        return False
    for name, value in scope["headers"]:
        if name == b"content-type":
            # FastAPI parses the body as JSON for this type whatever its parameters
            # (json.loads finds the encoding itself).
            kind: bytes = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json"
    return False


class HotWritesFront:
    def __init__(self, app: ASGIApp, *, zuora: FastAPI) -> None:
        self.app = app
        self.zuora = zuora
        self.route = route_of(accounts.router, TEMPLATE, "POST")
        self._chain: ASGIApp | None = None
        self._router: ASGIApp | None = None

    def _build(self) -> ASGIApp:
        """The Zuora app's own middleware (as FastAPI builds them) around the handler,
        and below them the app's exception middleware and router (where a request the
        handler does not take goes on)."""
        zuora = self.zuora
        if zuora.middleware_stack is None:
            zuora.middleware_stack = zuora.build_middleware_stack()
        innermost: Any = zuora.user_middleware[-1].cls
        found: Any = zuora.middleware_stack
        for _ in range(16):
            if type(found) is innermost:
                break
            found = getattr(found, "app", None)
        else:
            raise LookupError("the Zuora app's middleware stack has changed shape")
        self._router = found.app
        chain: ASGIApp = self._handle
        for cls, args, kwargs in reversed(zuora.user_middleware):
            chain = cls(chain, *args, **kwargs)
        self._chain = chain
        return chain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("root_path", "") == "" and hot_write_shaped(scope):
            chain = self._chain or self._build()
            as_routed(scope, self.zuora, self.route, {})
            await chain(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, receive = await buffered_body(receive)
        try:
            # What FastAPI does with a JSON body: json.loads, then the body's model.
            model = CreateAccountRequest.model_validate(json.loads(body)) if body else None
        except (ValueError, ValidationError):
            model = None
        if model is None:
            assert self._router is not None
            await self._router(scope, receive, send)
            return
        request = Request(scope, receive)
        response: Response
        try:
            work = await caller_units(request)
            response = json_response(await accounts.created_account(request, model, work))
        except DomainError as exc:
            response = domain_error_response(request, exc)
        except Exception:
            await answer_unhandled(request, receive, send, log)
            raise
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": response.body, "more_body": False})
