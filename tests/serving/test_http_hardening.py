"""HTTP server hardening over raw loopback sockets: header deadline (half-open, idle and
trickling connections are closed), 431 for oversized header blocks, and the concurrency cap."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from serving.http_server import MAX_HEADER_BYTES, HttpResponse, HttpServer
from tests.serving.conftest import LoopThread
from tests.serving.test_rest_robustness import raw_request, read_responses

TIMEOUT = 0.5  # the header deadline of the servers here


class Echo:
    """Answers 200 with the body; ``delay`` seconds per request; tracks concurrency."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.inside = 0
        self.peak = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, request):
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(self.delay)
        finally:
            self.inside -= 1
        return HttpResponse(200, request.body or b"ok")


@pytest.fixture
def served():
    loop = LoopThread()
    handler = Echo()
    servers = []

    def make(**kwargs) -> tuple[HttpServer, int]:
        kwargs.setdefault("header_timeout", TIMEOUT)
        http = HttpServer(handler, 10_000_000, **kwargs)
        port = loop.run(http.start("127.0.0.1", 0))
        servers.append(http)
        return http, port

    yield make, handler, loop
    for http in servers:
        loop.run(_shut(http))
    loop.close()


async def _shut(http: HttpServer) -> None:
    http.stop_accepting()  # on the server's loop: asyncio servers are not thread-safe
    await http.drain(5)


def read_until_closed(sock: socket.socket, limit: float = 15.0) -> bytes:
    """Everything the server sends until it closes the connection (guarded by ``limit``)."""
    sock.settimeout(limit)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:  # closed while our unread bytes were in flight
        pass
    return data


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=15)


def test_unfinished_headers_get_408_and_the_connection_is_closed(served):
    make, _, _ = served
    http, port = make()
    with connect(port) as sock:
        sock.sendall(b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\n")  # never finished
        reply = read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert http.header_timeouts == 1
    wait_until(lambda: not http.connections)


def test_silent_connection_is_closed_without_a_reply(served):
    make, _, _ = served
    http, port = make()
    with connect(port) as sock:
        assert read_until_closed(sock) == b""
    wait_until(lambda: not http.connections)


def test_trickled_headers_do_not_extend_the_deadline(served):
    make, _, _ = served
    http, port = make()
    sent = 0
    with connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        started = time.monotonic()
        try:
            while time.monotonic() - started < 8 * TIMEOUT:  # far past the deadline
                sock.sendall(b"X-Slow: 1\r\n")
                sent += 1
                time.sleep(TIMEOUT / 5)
        except OSError:  # the server closed the connection under us
            pass
        reply = read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 408") or reply == b""
    assert http.header_timeouts == 1 and sent < 40


def test_idle_keep_alive_connection_is_closed_after_its_answer(served):
    make, _, _ = served
    http, port = make()
    with connect(port) as sock:
        sock.sendall(raw_request("/a", b"one"))
        (first,) = read_responses(sock, 1)
        assert first.startswith(b"HTTP/1.1 200") and b"keep-alive" in first
        assert read_until_closed(sock) == b""  # idle past the deadline
    assert http.header_timeouts == 1


def test_slow_answers_and_pipelined_requests_are_not_cut(served):
    make, handler, _ = served
    http, port = make()
    handler.delay = 3 * TIMEOUT  # answering takes longer than the header deadline
    with connect(port) as sock:
        sock.sendall(raw_request("/a", b"one") + raw_request("/b", b"two"))
        first, second = read_responses(sock, 2, timeout=15)
    assert first.endswith(b"one") and second.endswith(b"two")
    assert http.header_timeouts == 0


def test_oversized_header_block_gets_431(served):
    make, _, _ = served
    http, port = make()
    many = "".join(f"X-Filler-{i}: {'v' * 100}\r\n" for i in range(MAX_HEADER_BYTES // 100))
    with connect(port) as sock:
        sock.sendall(raw_request("/a", b"x", extra=many))
        reply = read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"Connection: close" in reply and b"larger than 65536 bytes" in reply


def test_one_endless_header_line_gets_431(served):
    make, _, _ = served
    _, port = make()
    with connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nX-Long: ")
        try:
            for _ in range(2 * MAX_HEADER_BYTES // 8192 + 4):
                sock.sendall(b"a" * 8192)  # no line end, ever
        except OSError:
            pass
        reply = read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 431")


def test_header_block_just_under_the_limit_and_big_pipelined_bodies_pass(served):
    make, _, _ = served
    _, port = make()
    filler = "X-Filler: " + "v" * (MAX_HEADER_BYTES - 200) + "\r\n"
    body = b"b" * (3 * MAX_HEADER_BYTES)  # chunks mixing a body and the next headers
    with connect(port) as sock:
        sock.sendall(raw_request("/a", b"x", extra=filler) + raw_request("/b", body)
                     + raw_request("/c", b"z"))
        replies = read_responses(sock, 3, timeout=15)
    assert [r.split(b"\r\n")[0] for r in replies] == [b"HTTP/1.1 200 OK"] * 3
    assert replies[1].endswith(body)


def test_max_concurrent_caps_requests_answered_at_once(served):
    make, handler, loop = served
    _, port = make(max_concurrent=2)
    handler.gate = asyncio.Event()
    socks = [connect(port) for _ in range(4)]
    try:
        for sock in socks:
            sock.sendall(raw_request("/a", b"q"))
        wait_until(lambda: handler.inside == 2)
        time.sleep(0.3)  # room for a third request to get in, if it may
        assert handler.inside == 2
        loop.loop.call_soon_threadsafe(handler.gate.set)
        for sock in socks:
            assert read_responses(sock, 1)[0].startswith(b"HTTP/1.1 200")
    finally:
        for sock in socks:
            sock.close()
    assert handler.peak == 2


def wait_until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)
