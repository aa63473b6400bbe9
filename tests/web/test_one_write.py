"""Against a real server: a response that fits in one segment is sent in one (its head
with its body), ``100 Continue`` still goes out before the body is read, and an answered
request leaves nothing for the cyclic garbage collector."""

from __future__ import annotations

import gc
import socket
import struct

from tests.support.server import raw_status

# struct tcp_info (linux/tcp.h): tcpi_data_segs_in, segments received that carried data.
_DATA_SEGS_IN = 152


def _data_segments_in(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    (count,) = struct.unpack_from("I", info, _DATA_SEGS_IN)
    return int(count)


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def _read_answer(sock: socket.socket) -> bytes:
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return answer


def test_an_answer_is_one_segment_and_the_connection_stays_open(live_url: str) -> None:
    with _connect(live_url) as sock:
        for _ in range(3):  # keep-alive: each answer on the same connection
            before = _data_segments_in(sock)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            answer = _read_answer(sock)
            assert raw_status(answer) == 200
            assert b'"status":"ok"' in answer
            assert _data_segments_in(sock) - before == 1


def test_100_continue_is_sent_before_the_body_is_read(live_url: str) -> None:
    body = b"client_id=x&client_secret=y&grant_type=client_credentials"
    with _connect(live_url) as sock:
        sock.sendall(
            b"POST /zuora/oauth/token HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 ")
        sock.sendall(body)
        answer = _read_answer(sock)
        assert raw_status(answer) == 401


def _request_cycles() -> int:
    """uvicorn's request cycles alive in this process (found without collecting: a
    collection here could finalise other tests' leftovers)."""
    return sum(1 for found in gc.get_objects() if type(found).__name__ == "RequestResponseCycle")


def test_answered_requests_leave_no_reference_cycle(live_url: str) -> None:
    """Each request's cycle is freed when its connection moves on, not by the cyclic
    collector: the collections that freed ~10 objects a request were the hot GET's
    latency tail (docs/benchmarks.md, "GET bill run on PostgreSQL (session 8, pgget)")."""
    request = b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n"
    with _connect(live_url) as sock:
        sock.sendall(request)
        _read_answer(sock)
        was_enabled = gc.isenabled()
        gc.disable()  # a cycle left behind stays alive, to be counted
        try:
            before = _request_cycles()
            for _ in range(5):
                sock.sendall(request)
                assert raw_status(_read_answer(sock)) == 200
            left = _request_cycles() - before
        finally:
            if was_enabled:
                gc.enable()
    assert left <= 1  # at most the latest, which the connection still holds
