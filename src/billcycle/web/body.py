"""Request-body guard shared by both dialects.

Decompresses ``Content-Encoding: gzip`` bodies incrementally and stops as soon as the
decompressed size passes the cap, so a gzip bomb costs a few milliseconds and answers
413 instead of exhausting memory. Plain bodies are held to the same cap.

It also refuses text no column can hold, before any route sees it: a NUL character
(PostgreSQL refuses it) or a lone UTF-16 surrogate (``"\\ud800"``, which no UTF-8
encoder writes) in the query string, a JSON body's strings or a form body answer 400
in the dialect's envelope; a path with a NUL names nothing: 404 (PostgreSQL would
refuse to look it up).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billcycle.ids import is_ascii_digits

ErrorRenderer = Callable[[Scope, int, str], Response]


NO_SUCH_PATH = "The requested resource does not exist."
BAD_TEXT = "Text in the request must not contain NUL characters or unpaired UTF-16 surrogates."
# A JSON escape that may hide a NUL or a surrogate; only bodies with one are parsed here.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


def _bad_json_text(value: Any) -> bool:
    if isinstance(value, str):
        return _BAD_CHARS.search(value) is not None
    if isinstance(value, dict):
        return any(_bad_json_text(k) or _bad_json_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_bad_json_text(item) for item in value)
    return False


def _too_long(value: Any, max_chars: int) -> str | None:
    if isinstance(value, str):
        if len(value) > max_chars:
            return f"A text value in the request is longer than {max_chars} characters."
        return None
    if isinstance(value, list):
        items: list[Any] = value
    elif isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    else:
        return None
    for item in items:
        problem = _too_long(item, max_chars)
        if problem:
            return problem
    return None


def _no_long_string(body: bytes, max_chars: int) -> bool:
    """Whether the body's bytes prove that no JSON string in it is longer than
    ``max_chars`` characters, without parsing it (a million-record bulk job's body is
    ~150 MB: its parse took seconds and ~1 GB). A string of more than ``max_chars``
    characters spans more than ``max_chars`` bytes with no quote inside when it holds no
    escaped quote, and any run of ``max_chars + 1`` bytes covers a whole aligned window
    of ``max_chars // 2`` bytes: so when every such window holds a quote and the body
    has no ``\\"``, no string is that long. False means "maybe": parse it."""
    if b'\\"' in body:
        return False
    window = max(max_chars // 2, 1)
    find = body.find
    full = len(body) - window + 1  # a shorter tail cannot hold a whole window
    return all(find(b'"', start, start + window) >= 0 for start in range(0, full, window))


def oversized_json(body: bytes, content_type: str, max_chars: int) -> str | None:
    """Why a JSON body breaks the general cap on a text value's length (None when it does
    not). Only a body long enough to hold such a value is parsed, so the usual small
    request costs one length comparison. Arrays have no general cap: the body's size
    bounds them, and a resource that takes many items caps them itself (a bulk job's
    records, by the tenant's record limit)."""
    if len(body) <= max_chars:
        return None
    if content_type and "json" not in content_type:
        return None
    if _no_long_string(body, max_chars):
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None  # not JSON: the route's own parsing answers that
    return _too_long(parsed, max_chars)


def bad_text(scope: Scope, content_type: str, body: bytes) -> bool:
    """Whether the request carries a NUL or a lone surrogate in its query string, JSON
    strings or form fields. Cheap when clean: byte scans, and a JSON parse only
    for a body with a ``\\u0000`` or ``\\udXXX`` escape in it."""
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        return True
    if not body:
        return False
    if "json" in content_type or not content_type:
        if _SUSPECT_ESCAPE.search(body) is None:
            return False
        try:
            return _bad_json_text(json.loads(body))
        except ValueError:
            return False  # not JSON: the route's own parsing answers that
    if content_type.startswith(("application/x-www-form-urlencoded", "text/")):
        return b"%00" in body or b"\x00" in body
    return False


class BodyTooLarge(Exception):
    pass


class BadEncoding(Exception):
    pass


class RequestBodyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        render_error: ErrorRenderer,
        max_string_chars: int = 65_536,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.render_error = render_error
        self.max_string_chars = max_string_chars

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", ""):
            await self._fail(scope, receive, send, 404, NO_SUCH_PATH)
            return
        headers = dict(scope["headers"])
        encoding = headers.get(b"content-encoding", b"").decode("latin-1").strip().lower()
        if encoding not in ("", "identity", "gzip"):
            await self._fail(scope, receive, send, 415, f"Unsupported Content-Encoding: {encoding}")
            return
        length = headers.get(b"content-length")
        if length is not None and is_ascii_digits(length) and int(length) > self.max_bytes:
            await self._fail(scope, receive, send, 413, self._too_large())
            return
        try:
            body = await self._read(receive, gzip=encoding == "gzip")
        except BodyTooLarge:
            await self._fail(scope, receive, send, 413, self._too_large())
            return
        except BadEncoding:
            await self._fail(scope, receive, send, 400, "The request body is not valid gzip data.")
            return

        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        if bad_text(scope, content_type, body):
            await self._fail(scope, receive, send, 400, BAD_TEXT)
            return
        oversized = oversized_json(body, content_type, self.max_string_chars)
        if oversized is not None:
            await self._fail(scope, receive, send, 400, oversized)
            return

        if encoding == "gzip":
            scope = dict(scope)
            scope["headers"] = [
                (k, v)
                for k, v in scope["headers"]
                if k not in (b"content-encoding", b"content-length")
            ] + [(b"content-length", str(len(body)).encode())]

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"The request body is larger than the limit of {self.max_bytes} bytes."

    async def _read(self, receive: Receive, *, gzip: bool) -> bytes:
        chunks: list[bytes] = []
        size = 0
        received = 0
        inflater: Any = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            data: bytes = message.get("body", b"")
            more = message.get("more_body", False)
            received += len(data)
            if inflater is not None:
                try:
                    data = inflater.decompress(data, self.max_bytes + 1 - size)
                except zlib.error as exc:
                    raise BadEncoding from exc
                if inflater.unconsumed_tail:
                    raise BodyTooLarge
            size += len(data)
            if size > self.max_bytes:
                raise BodyTooLarge
            chunks.append(data)
        if inflater is not None and received and not inflater.eof:
            raise BadEncoding  # truncated stream
        return b"".join(chunks)

    async def _fail(
        self, scope: Scope, receive: Receive, send: Send, status: int, message: str
    ) -> None:
        response = self.render_error(scope, status, message)
        await response(scope, receive, send)
