"""HTTP-level behaviour over raw sockets: timeouts, pipelining, disconnects, limits, CORS."""

from __future__ import annotations

import socket
import time

from tests.serving.conftest import RestClient

PREDICT = b'{"instances": [[1.0], [2.0]]}'


def raw_request(path: str, body: bytes = PREDICT, extra: str = "") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode()
    return head + body


def read_responses(sock: socket.socket, count: int, timeout: float = 10.0) -> list[bytes]:
    """Read ``count`` complete HTTP responses (Content-Length framed)."""
    sock.settimeout(timeout)
    data, out = b"", []
    while len(out) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            head = data[:head_end].decode("latin-1").lower()
            length = int(head.split("content-length: ")[1].split("\r\n")[0])
            if len(data) >= head_end + 4 + length:
                out.append(data[: head_end + 4 + length])
                data = data[head_end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return out


def test_pipelined_requests_are_answered_in_order(fake_rest):
    with socket.create_connection(("127.0.0.1", fake_rest["port"])) as sock:
        sock.sendall(
            raw_request("/v1/models/m:predict", b'{"instances": [1.0]}')
            + b"GET /v1/models/m HTTP/1.1\r\nHost: x\r\n\r\n"
            + raw_request("/v1/models/m:predict", b'{"instances": [3.0]}')
        )
        first, second, third = read_responses(sock, 3)
    assert first.endswith(b'"predictions": [2.5\n    ]\n}')
    assert b'"model_version_status"' in second
    assert third.endswith(b'"predictions": [3.5\n    ]\n}')


def test_slow_inference_times_out_with_504(fake_rest):
    client = RestClient(fake_rest["port"])
    many = b'{"instances": [' + b", ".join([b"[1.0]"] * 3) + b"]}"
    time.sleep(0.5)  # calls of earlier tests have finished
    before = len(fake_rest["backend"].batches)
    fake_rest["backend"].delay = 1.5
    try:
        reply = client.post("/v1/models/m:predict", many)
    finally:
        fake_rest["backend"].delay = 0.3
    assert reply.status == 504
    assert reply.json() == {"error": "Deadline Exceeded"}
    assert len(fake_rest["backend"].batches) == before + 1
    time.sleep(1.3)  # let the abandoned call finish
    assert client.post("/v1/models/m:predict", PREDICT).status == 200
    client.close()


def test_client_disconnect_mid_request_does_not_hurt_the_server(fake_rest):
    with socket.create_connection(("127.0.0.1", fake_rest["port"])) as sock:
        sock.sendall(raw_request("/v1/models/m:predict")[:-5])  # body cut short
    with socket.create_connection(("127.0.0.1", fake_rest["port"])) as sock:
        sock.sendall(raw_request("/v1/models/m:predict"))  # full request, then vanish
    client = RestClient(fake_rest["port"])
    assert client.post("/v1/models/m:predict", PREDICT).json() == {"predictions": [[2.5], [3.0]]}
    client.close()


def test_oversized_body_gets_413_from_content_length(fake_rest):
    with socket.create_connection(("127.0.0.1", fake_rest["port"])) as sock:
        sock.sendall(
            b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n"
        )
        sock.settimeout(10)
        assert sock.recv(1024).startswith(b"HTTP/1.1 413 ")


def test_garbage_http_gets_400_and_keeps_server_up(fake_rest):
    with socket.create_connection(("127.0.0.1", fake_rest["port"])) as sock:
        sock.sendall(b"\x00\x01 not http\r\n\r\n")
        sock.settimeout(10)
        assert sock.recv(1024).startswith(b"HTTP/1.1 400 ")
    client = RestClient(fake_rest["port"])
    assert client.get("/v1/models/m").status == 200
    client.close()


def test_cors_headers_and_preflight(fake_rest):
    client = RestClient(fake_rest["port"])
    reply = client.get("/v1/models/m")
    assert reply.headers["access-control-allow-origin"] == "*"
    assert reply.headers["access-control-allow-methods"] == "POST, GET"
    assert reply.headers["access-control-allow-headers"] == "Content-Type"
    ok = client.request("OPTIONS", "/v1/models/m:predict", headers={"Origin": "https://a.b"})
    bad = client.request("OPTIONS", "/v1/models/m:predict", headers={"Origin": "file://x"})
    assert (ok.status, bad.status, bad.body) == (200, 400, b"")
    client.close()


def test_expect_100_continue_is_answered_before_the_body(fake_rest):
    body = b'{"instances": [1.0]}'
    with socket.create_connection(("127.0.0.1", fake_rest["port"])) as sock:
        sock.sendall(
            b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        sock.settimeout(10)
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        (reply,) = read_responses(sock, 1)
    assert reply.startswith(b"HTTP/1.1 200 OK") and reply.endswith(b"[2.5\n    ]\n}")


def test_keep_alive_reuses_one_connection(fake_rest):
    client = RestClient(fake_rest["port"])
    for _ in range(3):
        assert client.get("/v1/models/m").headers["connection"] == "keep-alive"
    sock = client.conn.sock
    client.get("/v1/models/m")
    assert client.conn.sock is sock
    client.close()
