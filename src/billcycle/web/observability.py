"""What operators see of a server process: request metrics and one log line per request
(a pure ASGI middleware, a few microseconds a request), ``/metrics``, ``/healthz`` and
``/readyz``.

* ``/healthz``: the process is up and its event loop answers (no database): a liveness
  probe. ``/health`` (older) answers the same with the version.
* ``/readyz``: the database answers, its schema is at the code's migration head, and a
  worker is alive (PostgreSQL: a ``billcycle worker`` heartbeat within a lease; SQLite:
  the embedded worker thread): 200, else 503 with the failing checks.
* ``/metrics``: Prometheus text format: this process's counters (or every server
  process's, in multiprocess mode) and what the database knows, read at scrape time.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billcycle import logs, metrics
from billcycle.operations.collector import database_exposition
from billcycle.operations.readiness import check

router = APIRouter(include_in_schema=False)

_DIALECTS = (
    ("/zuora", "zuora"),
    ("/fusebill", "fusebill"),
    ("/billcycle", "admin"),
    ("/pay", "card"),
)
_OPS_PATHS = frozenset({"/metrics", "/healthz", "/readyz", "/health"})
UNMATCHED = "unmatched"

# A version-4 UUID's fixed bits: the version (4) and the RFC 4122 variant (10).
_UUID4_BITS = (0x4 << 76) | (0x2 << 62)
_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62))


def new_request_id() -> str:
    """A fresh request id, a random (version 4) UUID as ``str(uuid.uuid4())`` writes it.

    From the ``random`` module's generator (seeded from the system's randomness, and
    again in a forked child) rather than ``uuid.uuid4()``, which makes a system call
    and a ``UUID`` object: a request id needs to be unique, not unguessable, and this
    is a quarter of the cost (docs/benchmarks.md, "GET bill run on PostgreSQL
    (session 8, pgget)")."""
    digits = "%032x" % (random.getrandbits(128) & _UUID4_CLEAR | _UUID4_BITS)
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


# A standard-library logger: its ``extra`` fields become the line's fields (billcycle.logs).
request_log = logging.getLogger("billcycle.request")


def dialect_of(path: str) -> str:
    lowered = path.lower()
    for prefix, name in _DIALECTS:
        if lowered.startswith(prefix) and (
            len(lowered) == len(prefix) or lowered[len(prefix)] == "/"
        ):
            return name
    return "ops" if path in _OPS_PATHS else "other"


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/zuora/v1/accounts/{account_key}``), never the
    raw path: label values stay bounded whatever clients send."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if route is None or path is None or hasattr(route, "routes"):  # none, or only a Mount
        return UNMATCHED
    return f"{scope.get('root_path', '')}{path}"


def _tenant_of(state: dict[str, Any]) -> int | None:
    tenant = state.get("tenant_id")
    return tenant if isinstance(tenant, int) else None


# The labelled children of the request metrics, by their label values (a few hundred at
# most: routes x methods x statuses): ``labels()`` costs a lock and a tuple per call.
_SERIES: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}


def _series(dialect: str, route: str, method: str, status: int) -> tuple[Any, Any]:
    key = (dialect, route, method, status)
    found = _SERIES.get(key)
    if found is None:
        found = _SERIES[key] = (
            metrics.HTTP_REQUESTS.labels(dialect, route, method, str(status)),
            metrics.HTTP_DURATION.labels(dialect, route, method),
        )
    return found


class ObservabilityMiddleware:
    """Counts and times every HTTP request by dialect, route template, method and status,
    and logs one line for it (request id, ``Zuora-Track-Id``, tenant, route, status,
    duration). The request id is in ``scope["state"]["request_id"]`` (the Zuora dialect
    answers it as ``Zuora-Request-Id``) and on every line logged while it runs."""

    def __init__(self, app: ASGIApp, *, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        bound = logs.REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_status)
        finally:
            logs.REQUEST_ID.reset(bound)
            elapsed = time.perf_counter() - started
            path: str = scope.get("path", "")
            dialect = dialect_of(path)
            route = route_template(scope)
            method: str = scope.get("method", "")
            counter, histogram = _series(dialect, route, method, status)
            counter.inc()
            histogram.observe(elapsed)
            if self.log_requests and request_log.isEnabledFor(logging.INFO):
                self._log(scope, state, request_id, dialect, route, method, status, elapsed)

    @staticmethod
    def _log(
        scope: Scope,
        state: dict[str, Any],
        request_id: str,
        dialect: str,
        route: str,
        method: str,
        status: int,
        elapsed: float,
    ) -> None:
        track_id = None
        for name, value in scope.get("headers", ()):
            if name.lower() == b"zuora-track-id":
                track_id = value.decode("latin-1")[:64]
                break
        request_log.info(
            "request",
            extra={
                "request_id": request_id,
                "track_id": track_id,
                "tenant": _tenant_of(state),
                "dialect": dialect,
                "method": method,
                "route": route,
                "path": scope.get("path", ""),
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    readiness = check(request.app.state.runtime)
    return JSONResponse(
        {"status": "ready" if readiness.ready else "not ready", "checks": readiness.checks},
        status_code=200 if readiness.ready else 503,
    )


@router.get("/metrics")
def metrics_endpoint(request: Request) -> Response:
    body = metrics.exposition() + database_exposition(request.app.state.runtime)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
