"""A minimal asyncio HTTP/1.1 keep-alive connection for the load generator.

``RestClient`` (urllib3, threads) is the right tool for applications; a load generator on a
2-core machine needs far less CPU per request, so ``clients bench`` sends pre-encoded request
bytes over this ``asyncio.Protocol`` (run on uvloop when installed) and parses only the
status line and framing (``Content-Length`` or chunked) of each answer. ``https://`` URLs
run the same protocol over TLS (an ``ssl.SSLContext`` from ``clients.tls``).
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

__all__ = ["HttpConnection", "build_request", "split_url"]


def split_url(base_url: str) -> tuple[str, int]:
    """(host, port) of ``http://host:port`` or ``https://host:port``."""
    parts = urlsplit(base_url if "://" in base_url else "http://" + base_url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"bench supports http:// and https:// URLs only, got {base_url!r}")
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)


def build_request(method: str, host: str, port: int, path: str, body: bytes = b"") -> bytes:
    """The full request bytes (headers + body), built once and re-sent as is."""
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


class _Proto(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, int]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None and not self.waiter.done():
            parsed = _parse(self.buf)
            if parsed is not None:
                status, body, used = parsed
                closing = _closes(bytes(self.buf[:self.buf.find(b"\r\n\r\n")]))
                del self.buf[:used]
                self.waiter.set_result((status, body, used))
                if closing:  # the server ends the connection: the next send reconnects
                    self.closed = True
                    if self.transport is not None:
                        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionResetError("server closed the connection"))


def _closes(head: bytes) -> bool:
    """Whether a response head ends its connection (``Connection: close``, or HTTP/1.0
    without ``keep-alive``), as Werkzeug and other ``http.server``-based servers answer."""
    lines = head.lower().split(b"\r\n")
    tokens = set()
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip() == b"connection":
            tokens.update(t.strip() for t in value.split(b","))
    return b"close" in tokens or (lines[0].startswith(b"http/1.0")
                                  and b"keep-alive" not in tokens)


def _parse(buf: bytearray) -> tuple[int, bytes, int] | None:
    """(status, body, bytes used) of one complete response at the start of ``buf``."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).decode("latin-1")
    lines = head.split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    start = end + 4
    if "content-length" in headers:
        stop = start + int(headers["content-length"])
        return (status, bytes(buf[start:stop]), stop) if len(buf) >= stop else None
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body, pos = bytearray(), start
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
            if len(buf) < eol + 2 + size + 2:
                return None
            if size == 0:
                return status, bytes(body), eol + 4
            body += buf[eol + 2:eol + 2 + size]
            pos = eol + 2 + size + 2
    return status, b"", start  # no body framing: treat as empty (e.g. 204)


class HttpConnection:
    """One keep-alive connection; ``await conn.send(request_bytes)`` -> (status, body, n)."""

    def __init__(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        self.host, self.port = host, port
        self.ssl_context = ssl_context
        self._proto: _Proto | None = None
        self.sent_at = 0.0  # loop time of the request in flight (0: idle)

    async def _connect(self) -> _Proto:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(_Proto, self.host, self.port,
                                                ssl=self.ssl_context)
        return proto

    async def send(self, request: bytes) -> tuple[int, bytes, int]:
        """Send one request and wait for its whole answer (reconnects when closed)."""
        if self._proto is None or self._proto.closed:
            self._proto = await self._connect()
        proto = self._proto
        loop = asyncio.get_running_loop()
        proto.waiter = loop.create_future()
        self.sent_at = loop.time()
        proto.transport.write(request)  # type: ignore[union-attr]
        try:
            return await proto.waiter
        except BaseException:
            self.close()
            raise
        finally:
            self.sent_at = 0.0

    def expire(self, now: float, timeout: float) -> None:
        """Fail the request in flight with ``TimeoutError`` if it is older than ``timeout``
        (called by a watchdog: cheaper than a timer per request)."""
        proto = self._proto
        if self.sent_at and now - self.sent_at > timeout and proto is not None and \
                proto.waiter is not None and not proto.waiter.done():
            proto.waiter.set_exception(TimeoutError(f"no answer within {timeout}s"))

    def close(self) -> None:
        """Drop the connection."""
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None
