"""A small HTTP/1.1 client for webhook POSTs, on asyncio streams.

Why not httpx: on this project's 2-core machines httpx spends ~1-6 ms of CPU per request
(its request/response models, h11, anyio), which caps one worker at a few hundred
deliveries a second; a webhook POST needs none of it. This client does only what a
delivery needs: keep-alive connections to one endpoint (at most ``width`` open), TLS
(the system's trust store, SNI and hostname checks), a timeout over connect + send +
answer, the status code and the first bytes of the answer. It connects to the address
the SSRF check approved (no second DNS lookup an attacker could answer differently)
and sends the URL's host in ``Host``.

No redirects are followed (a 3xx is a failed attempt, as Standard Webhooks advises).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from billcycle.ids import is_ascii_digits

MAX_HEADER = 64 * 1024
MAX_BODY = 1024 * 1024  # answers longer than this are not read to the end (no keep-alive)
# An idle connection is reused only this soon after its last answer.
IDLE_REUSE_SECONDS = 2.0


class HttpError(Exception):
    """No usable answer: connection refused or reset, timeout, malformed answer."""


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: bytes


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    address: str  # the approved IP address to connect to
    request_target: str  # path and query

    @classmethod
    def of(cls, url: str, address: str) -> Target:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return cls(scheme, parts.hostname or "", port, address, path)

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Client:
    """Keep-alive connections to one target; use as an async context manager."""

    def __init__(self, target: Target, *, timeout: float, width: int) -> None:
        self.target = target
        self.timeout = timeout
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self._slots = asyncio.Semaphore(max(1, width))
        self._tls = ssl.create_default_context() if target.scheme == "https" else None

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for _, writer, _ in self._idle:
            writer.close()
        self._idle.clear()

    async def _connect(self) -> _Connection:
        return await asyncio.open_connection(
            self.target.address,
            self.target.port,
            ssl=self._tls,
            server_hostname=self.target.host if self._tls is not None else None,
        )

    def _reusable(self) -> _Connection | None:
        """An idle connection recent enough that the server has not closed it (servers
        close idle ones after 5 s or more), or None."""
        now = time.monotonic()
        while self._idle:
            reader, writer, since = self._idle.pop()
            if now - since < IDLE_REUSE_SECONDS and not reader.at_eof():
                return reader, writer
            writer.close()
        return None

    async def post(self, body: bytes, headers: dict[str, str]) -> Answer:
        """One attempt: the request is sent once, never re-sent on another connection
        (a receiver never gets it twice in one attempt)."""
        async with self._slots:
            connection = self._reusable()
            try:
                async with asyncio.timeout(self.timeout):
                    if connection is None:
                        connection = await self._connect()
                    return await self._exchange(connection, body, headers)
            except TimeoutError:
                if connection is not None:
                    connection[1].close()
                raise HttpError(f"no answer within {self.timeout:g} s") from None
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                if connection is not None:
                    connection[1].close()
                text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                raise HttpError(text) from None

    async def _exchange(
        self, connection: _Connection, body: bytes, headers: dict[str, str]
    ) -> Answer:
        reader, writer = connection
        lines = [f"POST {self.target.request_target} HTTP/1.1", f"host: {self.target.host_header}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines += [f"content-length: {len(body)}", "connection: keep-alive", "", ""]
        writer.write("\r\n".join(lines).encode("latin-1") + body)
        await writer.drain()
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise HttpError("answer headers too long") from None
        if len(head) > MAX_HEADER:
            raise HttpError("answer headers too long")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not is_ascii_digits(parts[1]):
            raise HttpError(f"not an HTTP answer: {status_line[:80]!r}")
        status = int(parts[1])
        fields: dict[str, str] = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip().lower()] = value.strip()
        keep = fields.get("connection", "").lower() != "close" and parts[0] == "HTTP/1.1"
        if "chunked" in fields.get("transfer-encoding", "").lower():
            data = await self._chunked(reader)
        elif "content-length" in fields:
            length = int(fields["content-length"])
            if length > MAX_BODY:
                data, keep = await reader.read(MAX_BODY), False
            else:
                data = await reader.readexactly(length)
        elif status in (204, 304) or 100 <= status < 200:
            data = b""
        else:
            data, keep = await reader.read(MAX_BODY), False
        if keep:
            self._idle.append((reader, writer, time.monotonic()))
        else:
            writer.close()
        return Answer(status, data[:2048])

    async def _chunked(self, reader: asyncio.StreamReader) -> bytes:
        data = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # trailers end (none expected)
                return bytes(data)
            if len(data) + size > MAX_BODY:
                raise HttpError("answer too long")
            data += await reader.readexactly(size)
            await reader.readexactly(2)
