"""Request-body guard shared by both dialects.

Decompresses ``Content-Encoding: gzip`` bodies incrementally and stops as soon as the
decompressed size passes the cap, so a gzip bomb costs a few milliseconds and answers
413 instead of exhausting memory. Plain bodies are held to the same cap.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billcycle.ids import is_ascii_digits

ErrorRenderer = Callable[[Scope, int, str], Response]


class BodyTooLarge(Exception):
    pass


class BadEncoding(Exception):
    pass


class RequestBodyMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int, render_error: ErrorRenderer) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.render_error = render_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
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
