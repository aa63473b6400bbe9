"""A minimal HTTP/1.1 keep-alive receiver for the webhook benchmark, run in its own
process (``python -m billcycle.bench.webhook_receiver``): answers every POST with 200,
counts them, verifies every signature (Standard Webhooks, HMAC-SHA256) with the secret
given on stdin, and answers ``GET /count`` with ``received verified``."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import sys

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"


class State:
    received = 0
    verified = 0
    key = b""


def _verified(headers: dict[bytes, bytes], body: bytes) -> bool:
    msg_id = headers.get(b"webhook-id", b"")
    stamp = headers.get(b"webhook-timestamp", b"")
    signed = msg_id + b"." + stamp + b"." + body
    expected = base64.b64encode(hmac.new(State.key, signed, hashlib.sha256).digest())
    given = headers.get(b"webhook-signature", b"")
    return any(hmac.compare_digest(part.split(b",", 1)[-1], expected) for part in given.split(b" "))


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, path = lines[0].split(b" ")[:2]
            headers: dict[bytes, bytes] = {}
            for line in lines[1:]:
                if b":" in line:
                    name, value = line.split(b":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
            if method == b"GET" and path == b"/count":
                text = f"{State.received} {State.verified}".encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(text), text))
            else:
                State.received += 1
                State.verified += _verified(headers, body)
                writer.write(OK)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main() -> None:
    secret = sys.stdin.readline().strip()
    State.key = base64.b64decode(secret.removeprefix("whsec_"))
    server = await asyncio.start_server(_serve, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
