"""``Idempotency-Key`` on every POST and PATCH of a dialect, as Zuora documents it.

Pure ASGI middleware, inside the dialect's own protocol middleware (so a replayed answer
still carries this request's ``Zuora-Request-Id``). A request without the header costs
one header scan. With it:

* a key longer than 255 characters (or empty) answers 400;
* the caller is identified the way the dialect's own dependency will (``identify``); a
  request that fails authentication is passed on untouched and answered 401 by it, with
  nothing stored;
* the key belongs to its owner (the OAuth client, which may act in several entities, or
  the API key's tenant: tenants never share keys) and is claimed for (tenant, method, URL,
  SHA-256 of the body bytes): the same key again replays the first answer's status,
  content type and body byte for byte; while the first request runs, 409; with another
  tenant (entity), method or URL, 422; with another body, 422 saying so;
* the answer is stored before it is sent (a client retrying the moment it has it gets the
  replay, never a 409). A 5xx or 429 answer (the request was not processed) is not
  stored: the claim is dropped and a retry runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billcycle.clock import Clock
from billcycle.requestkeys import service
from billcycle.requestkeys.service import MAX_KEY_LENGTH, Outcome
from billcycle.web.units import sqlite_writers, write_limiter

T = TypeVar("T")

HEADER = b"idempotency-key"
METHODS = frozenset({"POST", "PATCH"})

# (tenant id, owner of the key: "client:<OAuth client id>" or "tenant:<id>"), or None
Identify = Callable[[Scope], Awaitable[tuple[int, str] | None]]
RenderError = Callable[[Scope, int, str], Response]

MESSAGES = {
    Outcome.IN_PROGRESS: (409, "A request with this Idempotency-Key is still being processed."),
    Outcome.OTHER_REQUEST: (
        422,
        "This Idempotency-Key was already used for another request (another tenant, "
        "method or URL).",
    ),
    Outcome.OTHER_BODY: (
        422,
        "This Idempotency-Key was already used with a different request body.",
    ),
}


def request_path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope.get("root_path", "") + scope["path"]
    query = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


class IdempotencyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        identify: Identify,
        render_error: RenderError,
        session_factory: Callable[[Scope], sessionmaker[Session]],
        machine_clock: Callable[[Scope], Clock],
    ) -> None:
        self.app = app
        self.identify = identify
        self.render_error = render_error
        self.session_factory = session_factory
        self.machine_clock = machine_clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in METHODS:
            await self.app(scope, receive, send)
            return
        raw_key = next((v for k, v in scope["headers"] if k.lower() == HEADER), None)
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            message = f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters."
            await self.render_error(scope, 400, message)(scope, receive, send)
            return
        identity = await self.identify(scope)
        if identity is None:
            await self.app(scope, receive, send)
            return
        tenant_id, owner = identity
        body, receive = await buffered_body(receive)
        factory = self.session_factory(scope)
        claim = await _write(
            factory,
            lambda: service.claim(
                factory,
                tenant_id=tenant_id,
                owner=owner,
                key=key,
                method=scope["method"],
                path=request_path(scope),
                request_hash=hashlib.sha256(body).hexdigest(),
                now=self.machine_clock(scope).now(),
            ),
        )
        if claim.outcome is Outcome.REPLAY:
            await _replay(claim.status_code or 200, claim.content_type, claim.body or b"", send)
            return
        if claim.outcome is not Outcome.RUN:
            status, message = MESSAGES[claim.outcome]
            await self.render_error(scope, status, message)(scope, receive, send)
            return
        assert claim.record_id is not None
        await self._run(scope, receive, send, factory, tenant_id, claim.record_id)

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        factory: sessionmaker[Session],
        tenant_id: int,
        record_id: int,
    ) -> None:
        start: Message | None = None
        chunks: list[bytes] = []
        settled = False

        async def hold(message: Message) -> None:
            nonlocal start, settled
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status = int(start["status"])
            content = b"".join(chunks)
            if status >= 500 or status == 429:
                await _write(factory, lambda: service.release(factory, tenant_id, record_id))
            else:
                content_type = next(
                    (
                        v.decode("latin-1")
                        for k, v in start.get("headers", [])
                        if k.lower() == b"content-type"
                    ),
                    None,
                )
                await _write(
                    factory,
                    lambda: service.finish(
                        factory, tenant_id, record_id, status, content_type, content
                    ),
                )
            settled = True
            await send(start)
            await send({"type": "http.response.body", "body": content, "more_body": False})

        try:
            await self.app(scope, receive, hold)
        finally:
            if not settled:
                await _write(factory, lambda: service.release(factory, tenant_id, record_id))


async def _write(factory: sessionmaker[Session], work: Callable[[], T]) -> T:
    """A write of a key's record, on one of the process's writer threads and (SQLite)
    in turn with the other processes' request writers, as the request's own unit of work
    and its audit event (``web.units.write_limiter``, ``sqlite_writers``): a second writer
    would otherwise wait in SQLite's busy handler, which sleeps in millisecond steps."""
    engine: Engine = factory.kw["bind"]

    def locked() -> T:
        with sqlite_writers(engine):
            return work()

    return await anyio.to_thread.run_sync(locked, limiter=write_limiter(engine.dialect.name))


async def buffered_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a ``receive`` that hands it on again."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _replay(status: int, content_type: str | None, body: bytes, send: Send) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type:
        headers.append((b"content-type", content_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
