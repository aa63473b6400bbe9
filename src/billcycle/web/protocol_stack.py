"""The per-request protocol every dialect shares, as one call that adds its middleware:
rate-limit headers, the audit log and ``Idempotency-Key`` (outermost first)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response
from starlette.types import Scope

from billcycle.clock import Clock
from billcycle.runtime import Runtime
from billcycle.web.audit import AuditMiddleware
from billcycle.web.idempotency import IdempotencyMiddleware, Identify
from billcycle.web.ratelimit import RateLimitHeadersMiddleware


def _runtime(scope: Scope) -> Runtime:
    runtime: Runtime = scope["app"].state.runtime
    return runtime


def _factory(scope: Scope) -> sessionmaker[Session]:
    return _runtime(scope).session_factory


def _clock(scope: Scope) -> Clock:
    return _runtime(scope).machine_clock


def _request_id(scope: Scope) -> str | None:
    state = scope.setdefault("state", {})
    rid = state.get("zuora_request_id")
    if not isinstance(rid, str):
        rid = state["billcycle_request_id"] = str(uuid.uuid4())
    return rid


def add_protocol_middleware(
    app: FastAPI, *, identify: Identify, render_error: Callable[[Scope, int, str], Response]
) -> None:
    """Call before the dialect adds its own outer protocol middleware (which then wraps
    these: its request id and headers reach replayed and refused answers too)."""
    app.add_middleware(
        IdempotencyMiddleware,
        identify=identify,
        render_error=render_error,
        session_factory=_factory,
        machine_clock=_clock,
    )
    app.add_middleware(AuditMiddleware, runtime=_runtime, request_id=_request_id)
    app.add_middleware(RateLimitHeadersMiddleware)
