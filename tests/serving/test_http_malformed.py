"""Malformed and hostile HTTP/1.1 against ``serving.http_server`` over raw loopback sockets.

Each case must get a correct 4xx (or a close), and the server must go on answering the next
connection: request smuggling shapes (Content-Length with Transfer-Encoding, conflicting or
invalid Content-Length, bad chunk sizes), bodies over the limit, pipelining, a body that
stalls after its headers, HTTP/1.0, absurd methods and targets, and a hypothesis fuzz of
mutated requests.
"""

from __future__ import annotations

import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.http_server import HttpServer
from tests.serving.conftest import LoopThread
from tests.serving.test_http_hardening import Echo, _shut, connect, read_until_closed
from tests.serving.test_rest_robustness import raw_request, read_responses

TIMEOUT = 1.0  # header/body deadline of the server here
LIMIT = 1000  # max_request_bytes of the server here
PATH = "/v1/models/m:predict"


@pytest.fixture(scope="module")
def server():
    loop = LoopThread()
    http = HttpServer(Echo(), LIMIT, header_timeout=TIMEOUT)
    port = loop.run(http.start("127.0.0.1", 0))
    yield http, port
    loop.run(_shut(http))
    loop.close()


def status_of(reply: bytes) -> int:
    """The status code of the first response in ``reply``."""
    assert reply.startswith(b"HTTP/1.1 "), reply[:80]
    return int(reply[9:12])


def send_and_close(port: int, data: bytes) -> bytes:
    """Send ``data``; everything the server answers until it closes the connection."""
    with connect(port) as sock:
        sock.sendall(data)
        return read_until_closed(sock)


def assert_still_serving(port: int) -> None:
    """A fresh connection gets a normal answer."""
    with connect(port) as sock:
        sock.sendall(raw_request(PATH, b"ping"))
        (reply,) = read_responses(sock, 1)
    assert status_of(reply) == 200 and reply.endswith(b"\r\n\r\nping")


def _post(headers: str, body: bytes = b"") -> bytes:
    return f"POST {PATH} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body


@pytest.mark.parametrize(
    "request_bytes",
    [
        # smuggling: both framings (CL.TE and TE.CL orders)
        _post("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
        _post("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", b"0\r\n\r\n"),
        # conflicting / invalid Content-Length
        _post("Content-Length: 4\r\nContent-Length: 5\r\n", b"abcde"),
        _post("Content-Length: -1\r\n", b"a"),
        _post("Content-Length: abc\r\n", b"a"),
        _post("Content-Length: 1e3\r\n", b"a"),
        _post("Content-Length: 4 4\r\n", b"abcd"),
        _post("Content-Length : 4\r\n", b"abcd"),  # space before the colon
        # an unknown transfer coding, chunked not last
        _post("Transfer-Encoding: gzip\r\n", b"abcd"),
        _post("Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n"),
        # bad chunk sizes and framing
        _post("Transfer-Encoding: chunked\r\n", b"zz\r\nabc\r\n0\r\n\r\n"),
        _post("Transfer-Encoding: chunked\r\n", b"-1\r\nabc\r\n0\r\n\r\n"),
        _post("Transfer-Encoding: chunked\r\n", b"fffffffffffffffffffff\r\na\r\n0\r\n\r\n"),
        _post("Transfer-Encoding: chunked\r\n", b"3\r\nabcdef\r\n0\r\n\r\n"),
        # garbage request lines
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"G\x00T / HTTP/1.1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64),  # a TLS ClientHello
    ],
    ids=[
        "cl-then-te", "te-then-cl", "two-content-lengths", "negative-cl", "non-numeric-cl",
        "float-cl", "cl-with-space", "space-before-colon", "te-gzip", "te-chunked-not-last",
        "chunk-size-not-hex", "chunk-size-negative", "chunk-size-overflow",
        "chunk-longer-than-size", "no-target", "http-9.9", "extra-token", "nul-in-method",
        "tls-hello",
    ],
)
def test_malformed_request_gets_400_and_close(server, request_bytes: bytes) -> None:
    _, port = server
    reply = send_and_close(port, request_bytes)
    assert status_of(reply) == 400
    assert b"\r\nConnection: close\r\n" in reply
    assert_still_serving(port)


def test_body_over_the_limit_gets_413_by_content_length_or_by_chunks(server) -> None:
    _, port = server
    big = _post(f"Content-Length: {LIMIT + 1}\r\n")  # refused before any body byte
    chunks = b"".join(b"100\r\n" + b"x" * 256 + b"\r\n" for _ in range(5)) + b"0\r\n\r\n"
    for request_bytes in (big, _post("Transfer-Encoding: chunked\r\n", chunks)):
        reply = send_and_close(port, request_bytes)
        assert status_of(reply) == 413
        assert b"--max_request_bytes" in reply
    assert_still_serving(port)


def test_valid_chunked_body_is_joined(server) -> None:
    _, port = server
    with connect(port) as sock:
        sock.sendall(_post("Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"))
        (reply,) = read_responses(sock, 1)
    assert status_of(reply) == 200 and reply.endswith(b"\r\n\r\nabcde")


def test_pipelined_requests_then_garbage(server) -> None:
    _, port = server
    data = raw_request(PATH, b"one") + raw_request(PATH, b"two") + b"BOGUS\r\n\r\n"
    reply = send_and_close(port, data)
    assert reply.count(b"HTTP/1.1 ") == 3
    first, second, third = reply.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"200") and first.endswith(b"one")
    assert second.startswith(b"200") and second.endswith(b"two")
    assert third.startswith(b"400")
    assert_still_serving(port)


def test_body_stalled_after_the_headers_gets_408(server) -> None:
    http, port = server
    before = http.header_timeouts
    start = time.monotonic()
    reply = send_and_close(port, _post("Content-Length: 100\r\n", b"x" * 10))  # 90 never come
    assert status_of(reply) == 408
    assert time.monotonic() - start >= TIMEOUT
    assert http.header_timeouts == before + 1
    assert_still_serving(port)


def test_slow_body_that_keeps_arriving_is_not_cut(server) -> None:
    _, port = server
    with connect(port) as sock:
        sock.sendall(_post("Content-Length: 6\r\n"))
        for byte in b"abcdef":  # each byte well inside the deadline, 1.2 deadlines in all
            time.sleep(TIMEOUT / 5)
            sock.sendall(bytes([byte]))
        (reply,) = read_responses(sock, 1)
    assert status_of(reply) == 200 and reply.endswith(b"\r\n\r\nabcdef")


def test_http_1_0_without_keep_alive_is_answered_and_closed(server) -> None:
    _, port = server
    reply = send_and_close(port, f"POST {PATH} HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi".encode())
    assert status_of(reply) == 200
    assert b"\r\nConnection: close\r\n" in reply and reply.endswith(b"\r\n\r\nhi")


def test_http_1_0_with_keep_alive_stays_open(server) -> None:
    _, port = server
    request = f"POST {PATH} HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n"
    with connect(port) as sock:
        sock.sendall(request.encode() + b"a")
        sock.sendall(request.encode() + b"b")
        replies = read_responses(sock, 2)
    assert [status_of(r) for r in replies] == [200, 200]
    assert replies[1].endswith(b"b")


def test_absurd_method_gets_400(server) -> None:
    _, port = server
    reply = send_and_close(port, b"X" * 100_000 + f" {PATH} HTTP/1.1\r\n\r\n".encode())
    assert status_of(reply) == 400
    assert_still_serving(port)


def test_absurd_target_gets_431(server) -> None:
    _, port = server
    reply = send_and_close(port, f"GET /{'a' * 100_000} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status_of(reply) == 431
    assert_still_serving(port)


_VALID = _post("Content-Length: 4\r\n", b"abcd")
_TOKENS = [b"\r\n", b"\r\n\r\n", b" ", b":", b"Content-Length: ", b"Transfer-Encoding: chunked",
           b"0", b"-1", b"ffffffff", b"\x00", b"\xff", b"HTTP/1.1", b"GET ", b"0\r\n\r\n"]


@st.composite
def mutated_requests(draw) -> bytes:
    """A valid request with a few bytes cut, replaced or inserted (HTTP-ish tokens or noise)."""
    data = bytearray(_VALID)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.sampled_from(_TOKENS) | st.binary(min_size=1, max_size=8))
        if kind == "insert":
            data[at:at] = piece
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            data[at : at + len(piece)] = piece
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=mutated_requests())
def test_fuzzed_requests_get_http_answers_and_never_hurt_the_server(server, data: bytes) -> None:
    http, port = server
    with connect(port) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)  # end of input: incomplete requests end at once
        reply = read_until_closed(sock)
    # Whatever was answered is well-framed HTTP with a status we send for such input.
    assert set(statuses(reply)) <= {200, 400, 408, 413, 431}, (data, reply)
    assert_still_serving(port)


def statuses(reply: bytes) -> list[int]:
    """The status of each Content-Length-framed response in ``reply`` (all of it parsed)."""
    found = []
    while reply:
        head, sep, rest = reply.partition(b"\r\n\r\n")
        assert sep and head.startswith(b"HTTP/1.1 "), reply[:200]
        found.append(int(head[9:12]))
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        reply = rest[length:]
    return found
