"""Zuora's per-request protocol, as pure ASGI middleware (cheap on the hot path).

* every response carries ``Zuora-Request-Id``;
* ``Zuora-Track-Id`` is validated (US-ASCII, at most 64 chars, none of ``: ; " '``) and
  echoed back;
* ``Zuora-Version`` decides legacy error statuses (see :mod:`billcycle.zuora.errors`).
"""

from __future__ import annotations

import re
import uuid
from datetime import date

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billcycle.zuora.errors import error_response

_FORBIDDEN_TRACK_CHARS = set(":;\"'")
_LEGACY_CUTOFF = date(2024, 5, 20)
_NUMERIC_VERSION = re.compile(r"^\d{1,3}(\.\d{1,3})?$", re.ASCII)


def track_id_problem(value: str) -> str | None:
    if len(value) > 64:
        return "Zuora-Track-Id must be at most 64 characters."
    if not value.isascii() or any(ch in _FORBIDDEN_TRACK_CHARS for ch in value):
        return "Zuora-Track-Id must be US-ASCII and contain none of : ; \" '."
    return None


def is_legacy_version(value: str | None) -> bool | None:
    """True for versions before 2024-05-20, False for newer, None if unparseable."""
    if value is None or not value.strip():
        return False
    value = value.strip()
    if _NUMERIC_VERSION.match(value):
        return True  # the old minor versions (e.g. 211.0) all predate the date versions
    try:
        return date.fromisoformat(value) < _LEGACY_CUTOFF
    except ValueError:
        return None


def protocol_headers(scope: Scope) -> tuple[list[tuple[bytes, bytes]], str | None]:
    """What the protocol adds to the request's answer (``Zuora-Request-Id``, the echoed
    ``Zuora-Track-Id``) and the problem with its headers, if any (the request is then
    refused with it). Notes the request id and the legacy flag in the scope's state."""
    track = version = None
    for name, value in scope["headers"]:
        lowered = name.lower()
        if lowered == b"zuora-track-id":
            track = value
        elif lowered == b"zuora-version":
            version = value
    state = scope.setdefault("state", {})
    # The server's request id (web.observability), the one its log lines carry.
    request_id = state.get("request_id") or str(uuid.uuid4())
    state["zuora_request_id"] = request_id
    legacy = is_legacy_version(version.decode("latin-1") if version is not None else None)
    state["zuora_legacy"] = bool(legacy)
    extra: list[tuple[bytes, bytes]] = [(b"zuora-request-id", request_id.encode())]

    problem = None
    if track is not None:
        try:
            track_text = track.decode("ascii")
        except UnicodeDecodeError:
            problem = "Zuora-Track-Id must be US-ASCII."
        else:
            problem = track_id_problem(track_text)
            if problem is None:
                extra.append((b"zuora-track-id", track))
    if problem is None and legacy is None:
        problem = "Invalid Zuora-Version header: use a date such as 2025-08-20."
    return extra, problem


class ZuoraProtocolMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra, problem = protocol_headers(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        if problem is not None:
            response = error_response(Request(scope), 20, problem)
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
