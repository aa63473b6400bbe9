"""One audit event per state-changing request of a dialect (any method but GET, HEAD and
OPTIONS).

A write that runs its whole unit of work through :meth:`billcycle.web.units.Units.write`
(the hot POST /accounts) records its event IN that unit, before its commit
(:func:`unit_recorder`): one transaction and one commit per request, and the event exists
exactly when the change does. Every other request's event is recorded after the response
has been sent: one INSERT in its own short unit of work, in a writer thread
(``web.units.write_limiter``), so the client never waits for it; so are a write whose
unit failed (it rolled back, event included) and an answer replayed for an
``Idempotency-Key``.

The dialect's authentication dependency says who called (:func:`note_caller`); a request
that never got that far (refused credentials, malformed headers) is not recorded, as it
changed nothing and named no tenant. What is recorded: the actor, ``METHOD route``
(the route template, e.g. ``POST /zuora/v1/accounts/{account_key}``), the ids in the
path and the ``id``/``Id`` of the answer, the HTTP status, the request id and
``Zuora-Track-Id``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billcycle.audit import service
from billcycle.db.session import after_commit, unit_of_work
from billcycle.runtime import Runtime
from billcycle.tenancy.service import check_generation
from billcycle.web.units import UnitAudit, sqlite_writers, write_limiter

log = logging.getLogger(__name__)

READS = frozenset({"GET", "HEAD", "OPTIONS"})
_CALLER = "billcycle_caller"
# Set by the middleware around a write: the request id its event carries, and (by the
# request's unit of work, once it committed) that the event is already recorded.
_REQUEST_ID = "billcycle_audit_request_id"
_RECORDED = "billcycle_audit_recorded"
_ANSWER_IDS = ("id", "Id", "accountId", "subscriptionId", "invoiceId")
# Answers larger than this are not parsed for their id (a created object's answer is small).
_ID_SCAN_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class Caller:
    tenant_id: int
    actor: str
    route: str | None
    path_params: dict[str, Any]


def note_caller(request: Request, tenant_id: int, actor: str) -> None:
    """Called by a dialect's authentication dependency once it knows the tenant."""
    route = request.scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    prefix = request.scope.get("root_path", "")
    request.state.billcycle_caller = Caller(
        tenant_id,
        actor,
        f"{prefix}{template}" if template else None,
        dict(request.scope.get("path_params", {})),
    )


def _answer_id(body: bytes) -> str | None:
    if not body or len(body) > _ID_SCAN_LIMIT or body[:1] != b"{":
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return _id_in(parsed)


def _id_in(parsed: object) -> str | None:
    if not isinstance(parsed, dict):
        return None
    for name in _ANSWER_IDS:
        value = parsed.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


def _track_id(scope: Scope) -> str | None:
    track = next((v for k, v in scope["headers"] if k.lower() == b"zuora-track-id"), None)
    return track.decode("latin-1") if track else None


def _object_ids(caller: Caller, made: str | None) -> list[str]:
    ids = [str(value) for value in caller.path_params.values()]
    if made is not None and made not in ids:
        ids.append(made)
    return ids


def unit_recorder(request: Request) -> UnitAudit | None:
    """For a write whose unit of work returns the answer's body (a dict or model) and
    answers 200 once it commits: a callable that records the request's audit event in
    that unit, before its commit (None for a read, or outside the audit middleware).
    Given the token's ``client`` (its tenant, client id, generation), the same statement
    reads the client's generation and a stale token is refused (``NotAuthenticated``,
    the unit rolls back): the token check of ``Units.write(..., self_contained=True)``.
    Call after :func:`note_caller`."""
    scope = request.scope
    state = scope.get("state", {})
    caller = state.get(_CALLER)
    request_id = state.get(_REQUEST_ID)
    if scope["method"] in READS or not isinstance(caller, Caller) or request_id is None:
        return None
    runtime: Runtime = request.app.state.runtime
    method: str = scope["method"]
    route = caller.route or scope.get("path", "")
    track = _track_id(scope)

    def record(
        session: Session, result: object, client: tuple[int, str, int] | None = None
    ) -> None:
        answer = result.model_dump(by_alias=True) if isinstance(result, BaseModel) else result
        generation = service.record(
            session,
            caller.tenant_id,
            caller.actor,
            f"{method} {route}",
            method,
            route,
            _object_ids(caller, _id_in(answer)),
            200,
            request_id,
            track,
            occurred_at=runtime.machine_clock.now(),
            client=(client[1], client[0]) if client is not None else None,
        )
        if client is not None:
            check_generation(generation, client[2])
        after_commit(session, lambda: state.__setitem__(_RECORDED, True))

    return record


def riding_audit(request: Request) -> dict[str, Any] | None:
    """For a write whose one statement writes the request's audit event itself, about the
    object it makes (``audit.repository.riding_audit_event``; it answers 200 once that
    statement ran): the event's values (``audit.service.riding_values``), or None (a
    read, or outside the audit middleware). Call after :func:`note_caller`; once the
    statement has run, :func:`riding_audit_recorded`."""
    scope = request.scope
    state = scope.get("state", {})
    caller = state.get(_CALLER)
    request_id = state.get(_REQUEST_ID)
    if (
        scope["method"] in READS
        or not isinstance(caller, Caller)
        or request_id is None
        or caller.path_params
    ):
        return None
    runtime: Runtime = request.app.state.runtime
    method: str = scope["method"]
    route = caller.route or scope.get("path", "")
    return service.riding_values(
        caller.tenant_id,
        caller.actor,
        f"{method} {route}",
        method,
        route,
        200,
        request_id,
        _track_id(scope),
        occurred_at=runtime.machine_clock.now(),
    )


def riding_audit_recorded(request: Request) -> None:
    """The request's audit event is written (by its own statement): the middleware
    records none after the answer."""
    request.scope["state"][_RECORDED] = True


class AuditMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        runtime: Callable[[Scope], Runtime],
        request_id: Callable[[Scope], str | None],
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.request_id = request_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READS:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state[_REQUEST_ID] = self.request_id(scope)
        status = 500
        chunks: list[bytes] = []
        size = 0

        async def watch(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and size <= _ID_SCAN_LIMIT:
                body = message.get("body", b"")
                size += len(body)
                chunks.append(body)
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            caller = state.get(_CALLER)
            if isinstance(caller, Caller) and not state.get(_RECORDED):
                await self._record(scope, caller, status, b"".join(chunks))

    async def _record(self, scope: Scope, caller: Caller, status: int, body: bytes) -> None:
        runtime = self.runtime(scope)
        method = scope["method"]
        route = caller.route or scope.get("path", "")
        ids = _object_ids(caller, _answer_id(body) if status < 300 else None)
        track = _track_id(scope)
        request_id = scope["state"][_REQUEST_ID]

        def write() -> None:
            with sqlite_writers(runtime.engine), unit_of_work(runtime.session_factory) as session:
                service.record(
                    session,
                    caller.tenant_id,
                    caller.actor,
                    f"{method} {route}",
                    method,
                    route,
                    ids,
                    status,
                    request_id,
                    track,
                    occurred_at=runtime.machine_clock.now(),
                )

        try:
            # A writer thread of the request's own kind: on SQLite a second writer thread
            # in the process would wait for the first in SQLite's busy handler, which
            # sleeps in steps of milliseconds (POST /accounts fell to ~300 req/s with the
            # server's CPU three-quarters idle).
            limiter = write_limiter(runtime.engine.dialect.name)
            await anyio.to_thread.run_sync(write, limiter=limiter)
        except Exception:  # the answer is sent: a failed audit write is logged, not raised
            log.exception("audit event not recorded for %s %s", method, route)
