"""Limits on a request's head (request line, header count, header bytes), enforced before
any authentication, so an anonymous client cannot grow the server's memory.

Two layers:

* **in the server** (:class:`LimitedHttpToolsProtocol`, what ``billcycle serve`` runs): the
  bytes of a request head are counted as they arrive, before httptools buffers a header,
  and past the cap the server answers ``431 Request Header Fields Too Large`` and closes
  the connection, so a 50 MB header costs one read buffer, not 50 MB. With ``--http h11``
  uvicorn's ``h11_max_incomplete_event_size`` is set to the same cap.
* **in the application** (:class:`HeaderLimitMiddleware`): the same caps checked on the
  ASGI scope, whatever server runs the app, answering 431 in the dialect's envelope.

The caps are settings: ``BILLCYCLE_MAX_HEADER_BYTES`` (request line and headers,
default 16 KiB), ``BILLCYCLE_MAX_HEADER_COUNT`` (default 100) and
``BILLCYCLE_MAX_REQUEST_LINE_BYTES`` (default 8 KiB).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from billcycle.config import Settings, get_settings
from billcycle.web.body import ErrorRenderer

log = logging.getLogger(__name__)

TOO_LARGE = "Request header fields too large."
INTERNAL_ERROR = "An internal error occurred; it has been logged."
_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(TOO_LARGE)).encode() + b"\r\n\r\n" + TOO_LARGE.encode()
)


class _HeadTooLarge(Exception):
    pass


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the head caps of the process settings."""

    max_head_bytes: int = 16 * 1024
    max_header_count: int = 100
    max_line_bytes: int = 8 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_open = True
        self._head_bytes = 0
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        head_was_open = self._head_open
        super().data_received(data)
        # Still no end of the head after this read (one read is at most the transport's
        # buffer, 256 KiB): count it, and past the cap refuse before buffering more. A
        # read that ends the head is not counted, so a body sharing it costs nothing.
        if head_was_open and self._head_open and not self._refused:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open = True
        self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.max_line_bytes:
            self._refused = True
            raise _HeadTooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if len(self.headers) > self.max_header_count or size > self.max_head_bytes:
            self._refused = True
            raise _HeadTooLarge

    def on_headers_complete(self) -> None:
        self._head_open = False
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and not isinstance(cycle.transport, _OneWriteResponses):
            cycle.transport = cast(asyncio.Transport, _OneWriteResponses(cycle.transport, cycle))

    def send_400_response(self, msg: str) -> None:
        if self._refused:
            self._refuse()
            return
        super().send_400_response(msg)

    def _refuse(self) -> None:
        self._refused = True
        if not self.transport.is_closing():
            self.transport.write(_431)
            self.transport.close()


class _OneWriteResponses:
    """A request cycle's transport that sends a response's head with its first body bytes,
    in one ``send`` call instead of two.

    uvicorn writes the head when the app sends ``http.response.start`` and the body when
    it sends ``http.response.body``: two system calls, two loopback segments, and the
    client woken twice for a response that fits in one. Only the head is held, and only
    until the very next write (the first body chunk, even an empty one) or ``close``;
    ``100 Continue`` (written before the response starts) goes out at once.

    The wrapper lets go of the cycle once it holds the head (or the transport closes):
    the cycle holds the wrapper as its transport, so a wrapper that kept the cycle made
    every request a reference cycle (the cycle, its scope and state, headers, event:
    ~10 objects) that only the cyclic collector freed, and the collections that freed
    them, the in-flight requests' pushed to the oldest generation, were the hot GET's
    latency tail (docs/benchmarks.md, "GET bill run on PostgreSQL (session 8, pgget)").
    """

    __slots__ = ("_cycle", "_held", "_transport")

    def __init__(self, transport: Any, cycle: Any) -> None:
        self._transport = transport
        self._cycle = cycle  # None once the head is held: nothing more to hold
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
            return
        cycle = self._cycle
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            self._cycle = None
            self._held = bytes(data)
            return
        self._transport.write(data)

    def close(self) -> None:
        self._cycle = None
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def limited_protocol(settings: Settings) -> type[asyncio.Protocol]:
    """The server protocol with ``settings``' caps."""
    return type(
        "LimitedHttpToolsProtocol",
        (LimitedHttpToolsProtocol,),
        {
            "max_head_bytes": settings.max_header_bytes,
            "max_header_count": settings.max_header_count,
            "max_line_bytes": settings.max_request_line_bytes,
        },
    )


class ProcessLimitedHttpToolsProtocol(LimitedHttpToolsProtocol):
    """For ``serve --workers N``, whose processes import the protocol by name: the caps
    of the process's own ``BILLCYCLE_*`` settings."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        settings = get_settings()
        self.max_head_bytes = settings.max_header_bytes
        self.max_header_count = settings.max_header_count
        self.max_line_bytes = settings.max_request_line_bytes
        super().__init__(*args, **kwargs)


# Connections a server process accepts each time its listening socket wakes it.
ACCEPT_BATCH = 1


class TakingTurnsLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop, accepting ``ACCEPT_BATCH`` connection each time the
    listening socket is ready instead of up to the listen backlog (uvicorn's 2,048).

    The processes of ``serve --workers N`` share one listening socket and are all woken
    when connections arrive; asyncio's loop then accepted every waiting connection in
    one go, so the first process to run took a client's whole burst: in half of the
    8-run samples a 64-connection client had all 64 on one process while the other
    sat idle (half the rate, twice the p99; the run of a 104 ms p99 in docs/benchmarks.md,
    "GET bill run on PostgreSQL (session 8, pgget)"). Taking one a turn, the processes
    take turns (a busier process's turns come more slowly, so the less busy one takes
    more), as nginx's default (``multi_accept off``). The socket stays readable while
    connections wait, so the next turn of the loop takes the next one."""

    def _accept_connection(  # type: ignore[no-untyped-def]
        self, protocol_factory, sock, sslcontext=None, server=None, backlog=100, *args
    ) -> None:
        super()._accept_connection(  # type: ignore[misc]
            protocol_factory, sock, sslcontext, server, ACCEPT_BATCH, *args
        )


def server_options(settings: Settings, *, by_name: bool = False) -> dict[str, Any]:
    """The uvicorn options that enforce the head caps (``by_name`` for the multi-process
    server, which imports the protocol in each process)."""
    http: Any = (
        "billcycle.web.limits:ProcessLimitedHttpToolsProtocol"
        if by_name
        else limited_protocol(settings)
    )
    # asyncio's loop, not uvloop: a handler runs its database read on the loop, and under
    # more connections than the process keeps up with, uvloop served some connections far
    # less often than others (64 connections, a 0.6 ms handler: p99 835 ms, max 1.4 s, at
    # p50 42 ms) where asyncio's ready queue served them in turn (p99 44 ms = p50, the same
    # req/s). docs/benchmarks.md, "GET bill run latency: the event loop". Its accepts
    # taken one a turn, so that the processes of ``--workers N`` share a client's
    # connections (TakingTurnsLoop).
    return {
        "http": http,
        "loop": "billcycle.web.limits:TakingTurnsLoop",
        "h11_max_incomplete_event_size": settings.max_header_bytes,
    }


def server_config(app: ASGIApp, settings: Settings, **kwargs: Any) -> uvicorn.Config:
    return uvicorn.Config(app, **server_options(settings), **kwargs)


class HeaderLimitMiddleware:
    """The same caps on the ASGI scope, for any server: 431 in the dialect's envelope."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        max_count: int,
        max_line_bytes: int,
        render_error: ErrorRenderer,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_count = max_count
        self.max_line_bytes = max_line_bytes
        self.render_error = render_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            line = len(scope.get("raw_path") or b"") + len(scope.get("query_string", b""))
            size = line + sum(len(name) + len(value) + 4 for name, value in headers)
            if len(headers) > self.max_count or size > self.max_bytes or line > self.max_line_bytes:
                response = self.render_error(scope, 431, TOO_LARGE)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ContainErrors:
    """The server's side of a 500: the connection stays usable.

    An unexpected exception is rendered by the dialect's handler (a well-formed 500
    envelope) and then re-raised by Starlette, and uvicorn closes a connection whose
    application raised after its response started: the client's next request on it was
    reset. Wrapped around the app by the server (``billcycle serve``), this logs the
    exception and lets the connection live once the whole response was sent; before
    that, it sends the envelope itself. Tests' clients see the app unwrapped, so a
    server exception still reaches the test with its traceback.
    """

    def __init__(self, app: ASGIApp, *, render_error: ErrorRenderer) -> None:
        self.app = app
        self.render_error = render_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = complete = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, complete
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started and not complete:
                raise  # half a response: only closing the connection ends it cleanly
            if not started:
                log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
                response = self.render_error(scope, 500, INTERNAL_ERROR)
                await response(scope, receive, send)
