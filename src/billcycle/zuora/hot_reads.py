"""Hot reads answered below FastAPI's routing and dependency machinery.

``GET /v1/bill-runs/{id}`` is what clients poll while a run works. Through FastAPI it
paid, per request, the router's matching over every route, dependency solving (bearer
scheme, three header parameters, the unit-of-work dependency and its exit stack) and the
exception middleware: about half of the request's CPU time in a py-spy profile under
wrk (docs/benchmarks.md, "Protocol: GET bill run latency"). This ASGI middleware sits
innermost in the Zuora app, inside the dialect's own protocol middleware (request and
track ids, ``Zuora-Version``, rate-limit headers), and answers those paths itself with
the same functions the route uses: the same authentication (``authenticate``, which
also counts the rate limit), the same read (one read-only unit of work), the same
serialiser (:func:`billcycle.web.responses.json_response`) and the same error envelope.
The bytes on the wire are the route's (tests/protocol/test_hot_reads.py compares them).
Anything else (another method, a query string, another path) goes the ordinary way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from billcycle.context import ServiceContext
from billcycle.errors import DomainError
from billcycle.web.responses import json_response
from billcycle.zuora.deps import zuora_units
from billcycle.zuora.errors import domain_error_response
from billcycle.zuora.routes.bill_runs import bill_run_view

View = Callable[[ServiceContext, str], dict[str, Any]]

HOT_READS: tuple[tuple[re.Pattern[str], View], ...] = (
    (re.compile(r"/v1/bill-runs/([^/]+)"), bill_run_view),
)


def _credentials(scope: Scope) -> HTTPAuthorizationCredentials | None:
    """What ``HTTPBearer(auto_error=False)`` gives the route."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, token = get_authorization_scheme_param(value.decode("latin-1"))
            if not (scheme and token) or scheme.lower() != "bearer":
                return None
            return HTTPAuthorizationCredentials(scheme=scheme, credentials=token)
    return None


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            text: str = value.decode("latin-1")
            return text
    return None


class HotReadsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        for pattern, view in HOT_READS:
            match = pattern.fullmatch(path)
            if match is not None:
                await self._answer(scope, receive, send, view, match.group(1))
                return
        await self.app(scope, receive, send)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, view: View, key: str
    ) -> None:
        request = Request(scope, receive)
        try:
            work = await zuora_units(
                request,
                _credentials(scope),
                _header(scope, b"zuora-entity-ids"),
                _header(scope, b"zuora-org-ids"),
            )
            response = json_response(work.read(lambda ctx: view(ctx, key)))
        except DomainError as exc:
            response = domain_error_response(request, exc)
        await response(scope, receive, send)
