"""A real uvicorn server in a background thread, for clients that speak HTTP themselves
(zuora-sdk, raw sockets)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from billcycle.config import Settings
from billcycle.web.app import for_server
from billcycle.web.limits import server_options


def free_port() -> int:
    """A port free right now, for a server in another process (a short race with other
    processes remains; in-process servers use running_server, which has none)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(app: FastAPI) -> Iterator[str]:
    # The socket is bound here and handed to uvicorn, so parallel test processes
    # (pytest-xdist) can never be given the same port.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The server options `billcycle serve` uses (the request-head caps among them).
    runtime = getattr(app.state, "runtime", None)
    settings = runtime.settings if runtime is not None else Settings()
    config = uvicorn.Config(for_server(app), log_level="warning", **server_options(settings))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def raw_status(answer: bytes) -> int:
    """The status code of a raw HTTP/1.1 answer read off a socket (0: not one)."""
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
