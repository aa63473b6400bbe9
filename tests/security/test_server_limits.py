"""Against a real server: request-head caps before authentication (431, no memory
growth), and connections that survive every 4xx and a real 500."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from billcycle.tenancy.service import NewTenant
from tests.support.api import api_for
from tests.support.server import free_port, raw_status, running_server

MB = 1024 * 1024


def _raw_request(url: str, head: bytes, *, chunk: int = 256 * 1024) -> bytes:
    """Send ``head`` (a request without its final blank line, then the blank line) on
    a raw socket, as fast as the server takes it; returns what the server answered."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        data = head + b"\r\n\r\n"
        try:
            for start in range(0, len(data), chunk):
                sock.sendall(data[start : start + chunk])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused and closed: what it said is still readable
        answer = b""
        try:
            while part := sock.recv(65536):
                answer += part
        except (ConnectionResetError, TimeoutError):
            pass
        return answer


def test_request_head_caps_answer_431_before_authentication(live_url: str) -> None:
    base = b"GET /zuora/v1/payments HTTP/1.1\r\nHost: x\r\nConnection: close"
    fine = _raw_request(live_url, base + b"\r\nX-Pad: " + b"a" * 8000)
    assert raw_status(fine) == 401  # under the caps: authentication answers
    many = b"".join(b"\r\nX-H%d: v" % i for i in range(101))
    assert raw_status(_raw_request(live_url, base + many)) == 431
    assert raw_status(_raw_request(live_url, base + b"\r\nX-Pad: " + b"a" * 17000)) == 431
    long_line = b"GET /zuora/v1/payments?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x"
    long_line += b"\r\nConnection: close"
    assert raw_status(_raw_request(live_url, long_line)) == 431
    # A body is not part of the head, however it shares the head's packets.
    body = b"{" + b" " * (1024 * 1024) + b"}"
    post = _raw_request(
        live_url,
        b"POST /zuora/v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
        b"\r\nConnection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body,
    )
    assert raw_status(post) == 401, post[:200]
    # The server still serves.
    assert httpx.get(f"{live_url}/health").status_code == 200


def test_the_asgi_guard_answers_431_in_the_dialects_envelope(app: FastAPI) -> None:
    with TestClient(app) as client:
        headers = {f"X-H{i}": "v" for i in range(101)}
        zuora = client.get("/zuora/v1/payments", headers=headers)
        assert zuora.status_code == 431
        assert zuora.json()["success"] is False
        fusebill = client.get("/fusebill/v1/bulkapi", headers={"X-Pad": "a" * 17000})
        assert fusebill.status_code == 431
        assert fusebill.json()["HttpStatusCode"] == 431


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """``billcycle serve`` in its own process (the server a deployment runs)."""
    port = free_port()
    env = {
        **os.environ,
        "BILLCYCLE_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
        "BILLCYCLE_LOG_LEVEL": "warning",
    }
    log = (tmp_path / "server.log").open("wb")
    command = [sys.executable, "-m", "billcycle.cli.main", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                # Up and past its PDF warm-up (which loads fonts and libraries: ~20 MB
                # that would otherwise land inside the memory measurement).
                answer = httpx.get(f"{base}/readyz", timeout=2)
                if answer.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_huge_headers_do_not_grow_the_server_memory(served: tuple[str, int]) -> None:
    """A 50 MB header, then four 25 MB headers at once: each refused (431 or the
    connection closed) after at most a read buffer, and the server's resident memory
    grows by less than 10 MB."""
    url, pid = served
    for _ in range(3):  # warm up: the first requests import and allocate what they need
        httpx.get(f"{url}/health")
    before = _rss_kib(pid)
    answer = _raw_request(url, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 50 * MB)
    assert raw_status(answer) in (431, 0), answer[:200]
    import threading

    answers: list[bytes] = []

    def send() -> None:
        head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 25 * MB
        answers.append(_raw_request(url, head))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [raw_status(a) in (431, 0) for a in answers] == [True] * 4
    after = _rss_kib(pid)
    assert after - before < 10 * 1024, (before, after)
    assert httpx.get(f"{url}/health").status_code == 200


def _local_port(response: httpx.Response) -> int:
    stream = response.extensions["network_stream"]
    port: int = stream.get_extra_info("socket").getsockname()[1]
    return port


def test_the_connection_survives_every_4xx_and_a_real_500(app: FastAPI, tenant: NewTenant) -> None:
    """One keep-alive connection: 400, 401, 404, 405, 413, 415, 422-class refusals and
    a real internal error (a route only this test mounts), each followed by a normal
    request on the same connection."""
    zuora = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/zuora").app

    def boom() -> None:
        raise RuntimeError("a bug")

    zuora.add_api_route("/v1/test-only-internal-error", boom, methods=["GET"])
    with TestClient(app) as client:
        token = api_for(client, tenant).zuora_headers
    with running_server(app) as url, httpx.Client(base_url=url, headers=token) as client:
        first = client.get("/zuora/v1/payments")
        assert first.status_code == 200
        port = _local_port(first)
        refusals = [
            client.get("/zuora/v1/payments", params={"page": "x"}),
            client.get("/zuora/v1/payments", headers={"Authorization": "Bearer nope"}),
            client.get("/zuora/v1/accounts/" + "f" * 32),
            client.patch("/zuora/v1/payments"),
            client.post("/zuora/v1/accounts", content=b"x" * (11 * 1024 * 1024), headers=token),
            client.post("/zuora/v1/accounts", content=b"{}", headers={"Content-Encoding": "br"}),
            client.post("/zuora/v1/accounts", content=b"{not json", headers=token),
            client.get("/fusebill/v1/invoices/1", headers={"Authorization": "Basic nope"}),
        ]
        assert [r.status_code for r in refusals] == [400, 401, 404, 405, 413, 415, 400, 401]
        for response in refusals:
            assert response.json()  # a well-formed envelope
        error = client.get("/zuora/v1/test-only-internal-error")
        assert error.status_code == 500
        body = error.json()
        assert body["success"] is False
        assert body["reasons"][0]["code"] % 100 == 60
        assert "a bug" not in error.text
        after = client.get("/zuora/v1/payments")
        assert after.status_code == 200
        assert _local_port(after) == port  # the same connection throughout
