"""A real HTTP receiver for webhook deliveries, started by the test on 127.0.0.1, and
helpers to drive the workers (fan-out on a scheduler tick, then delivery)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from billcycle.clock import FrozenClock, SystemClock
from billcycle.context import ServiceContext
from billcycle.jobs.dispatch import ManualDispatcher, TaskCall
from billcycle.runtime import Runtime
from billcycle.webhooks import service as webhooks


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    # Status codes to answer, in order; then 200 for ever.
    answers: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Answer 500 once to the first request this is true of (then forget it).
    refuse_once: Callable[[Received], bool] | None = None
    # Close the connection without an answer to the next N requests.
    drop: int = 0
    # Answer the next N requests only after ``slow_seconds`` (past the client's timeout).
    slow: int = 0
    slow_seconds: float = 1.0
    # Requests being answered now, and the most there ever were at once.
    in_flight: int = 0
    max_in_flight: int = 0

    def of_type(self, event_type: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.json["type"] == event_type]


@contextmanager
def receiver(*answers: int) -> Iterator[Receiver]:
    """An HTTP server on a free local port that records every POST."""
    state = Receiver(url="", answers=list(answers))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            with state.lock:
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            answered = False

            def answering() -> None:
                # Out of flight before the answer is written: the client may send its
                # next request as soon as it reads this one's answer.
                nonlocal answered
                if not answered:
                    answered = True
                    with state.lock:
                        state.in_flight -= 1

            try:
                self._answer(body, answering)
            finally:
                answering()

        def _answer(self, body: bytes, answering: Callable[[], None]) -> None:
            with state.lock:
                got = Received({k.lower(): v for k, v in self.headers.items()}, body)
                state.received.append(got)
                status = state.answers.pop(0) if state.answers else 200
                if state.refuse_once is not None and state.refuse_once(got):
                    state.refuse_once, status = None, 500
                dropped = state.drop > 0
                if dropped:
                    state.drop -= 1
                stall = state.slow_seconds if state.slow > 0 and not dropped else 0.0
                if stall:
                    state.slow -= 1
            if stall:
                time.sleep(stall)
            answering()
            if dropped:
                self.close_connection = True
                return
            payload = b'{"ok": true}' if status < 300 else b"receiver says no"
            try:
                self.send_response(status)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # a stalled answer's client has given up and hung up
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def real_time(machine_clock: FrozenClock) -> None:
    """Machine time at the real time (Standard Webhooks receivers refuse timestamps more
    than 5 minutes away from their own clock)."""
    machine_clock.set(SystemClock().now())


def deliver(jobs: ManualDispatcher) -> None:
    """One scheduler tick (fan-out, delivery tasks for endpoints with work due), run."""
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()


def add_endpoint(
    runtime: Runtime, tenant_id: int, url: str, *types: str, allow_private: bool = True
) -> tuple[int, str]:
    with runtime.service_context(tenant_id) as ctx:
        if allow_private:
            webhooks.set_allow_private(ctx, True)
        endpoint = webhooks.add_endpoint(ctx, webhooks.NewEndpoint(url=url, event_types=types))
        return endpoint.id, endpoint.secret


def now_utc() -> datetime:
    return datetime.now(UTC)


__all__ = ["ServiceContext"]
