"""A small HTTP/1.1 server on asyncio + httptools (keep-alive, pipelining, body limits).

Requests on one connection are answered strictly in order by one task per connection, so
pipelined requests are safe. Bodies over ``max_request_bytes`` get 413 and the connection is
closed; unparsable HTTP gets 400 and is closed. A client that disconnects mid-request only
ends its own connection. ``stop_accepting`` + ``drain`` implement graceful shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httptools

from serving.task_errors import report, spawn

__all__ = ["HttpRequest", "HttpResponse", "HttpServer"]

log = logging.getLogger(__name__)

_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    409: "Conflict", 413: "Payload Too Large", 429: "Too Many Requests",
    499: "Client Closed Request", 500: "Internal Server Error", 501: "Not Implemented",
    503: "Service Unavailable", 504: "Gateway Timeout",
}
_MAX_PIPELINED = 64  # parsed-but-unanswered requests before we stop reading
_LINGER_SECONDS = 2.0  # how long a rejected connection keeps draining input


@dataclass
class HttpRequest:
    """One parsed request; header names are lower-case."""

    method: str
    url: bytes
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    keep_alive: bool = True


@dataclass
class HttpResponse:
    """A response; ``close`` ends the connection after it."""
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


def _encode(response: HttpResponse, keep_alive: bool) -> bytes:
    reason = _REASONS.get(response.status, "Unknown")
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    lines += [f"{k}: {v}" for k, v in response.headers]
    lines.append(f"Content-Length: {len(response.body)}")
    lines.append("Connection: " + ("keep-alive" if keep_alive else "close"))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


class _Connection(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.queue: asyncio.Queue = asyncio.Queue()
        self.current: HttpRequest | None = None
        self.body_parts: list[bytes] = []
        self.body_size = 0
        self.worker: asyncio.Task | None = None
        self.busy = False
        self.paused = False
        self.closing = False
        self.too_large = False

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        """Register the connection and start its in-order responder."""
        self.transport = transport
        self.server.connections.add(self)
        self.worker = spawn(self._serve(), "http-connection")

    def connection_lost(self, exc) -> None:
        """Forget the connection; a running handler finishes, its answer is dropped."""
        self.server.connections.discard(self)
        self.closing = True
        if self.worker is not None and not self.busy:
            self.worker.cancel()
        self.queue.put_nowait(None)

    def data_received(self, data: bytes) -> None:
        """Feed bytes to the parser; protocol errors answer 400 (or 413) and close."""
        if self.closing:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.too_large:
                limit = self.server.max_request_bytes
                message = f"Request body is larger than --max_request_bytes ({limit} bytes)"
                self._reject(413, b'{\n    "error": "' + message.encode() + b'"\n}', True)
            else:
                self._reject(400, b"", False)

    # -- httptools callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        """httptools callback: a new request starts."""
        self.current = HttpRequest(method="", url=b"")
        self.body_parts, self.body_size = [], 0

    def on_url(self, url: bytes) -> None:
        """httptools callback: (part of) the request target."""
        self.current.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        """httptools callback: one header."""
        key = name.decode("latin-1").lower()
        self.current.headers[key] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        """httptools callback: method, keep-alive, early 413 on Content-Length."""
        self.current.method = self.parser.get_method().decode("latin-1")
        self.current.keep_alive = self.parser.should_keep_alive()
        length = self.current.headers.get("content-length", "0")
        if length.isdigit() and int(length) > self.server.max_request_bytes:
            self.too_large = True
            raise _TooLarge()
        if self.current.headers.get("expect", "").lower() == "100-continue":
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits 1 s without

    def on_body(self, body: bytes) -> None:
        """httptools callback: a body chunk (413 past the limit)."""
        self.body_size += len(body)
        if self.body_size > self.server.max_request_bytes:
            self.too_large = True
            raise _TooLarge()
        self.body_parts.append(body)

    def on_message_complete(self) -> None:
        """httptools callback: queue the request; pause reading if too many wait."""
        self.current.body = b"".join(self.body_parts)
        self.queue.put_nowait(self.current)
        self.current = None
        if self.queue.qsize() >= _MAX_PIPELINED and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    # -- responses -------------------------------------------------------------------------
    def _reject(self, status: int, body: bytes, json_body: bool) -> None:
        """Answer a protocol-level error after the queued requests, then close."""
        self.closing = True
        kind = "application/json" if json_body else "text/plain"
        self.queue.put_nowait(HttpResponse(status, body, [("Content-Type", kind)], True))
        self.queue.put_nowait(None)

    async def _serve(self) -> None:
        while True:
            item = await self.queue.get()
            if self.paused and self.queue.qsize() < _MAX_PIPELINED // 2 and not self.closing:
                self.paused = False
                self.transport.resume_reading()
            if item is None:
                break
            if isinstance(item, HttpResponse):
                self._linger(item)
                return
            self.busy = True
            self.server.in_flight += 1
            try:
                response = await self.server.handler(item)
            except Exception as exc:  # a handler bug must not kill the connection silently
                report("rest-handler", exc, f"answering {item.method} {item.url!r}: {exc!r}")
                response = HttpResponse(500, b'{"error": "Internal server error"}',
                                        [("Content-Type", "application/json")])
            finally:
                self.busy = False
                self.server.in_flight -= 1
                self.server.idle.set()
            keep_alive = item.keep_alive and not response.close and not self.server.draining
            if self.transport.is_closing():
                break
            self._write(response, keep_alive)
            if not keep_alive:
                break
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _linger(self, response: HttpResponse) -> None:
        """Send a protocol error, then keep discarding input briefly before closing, so the
        client reads the answer instead of a connection reset while it is still sending."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(_encode(response, keep_alive=False))
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(_LINGER_SECONDS, transport.close)

    def _write(self, response: HttpResponse, keep_alive: bool) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_encode(response, keep_alive))
            if not keep_alive:
                self.transport.close()

    def close_if_idle(self) -> None:
        """Close the connection unless a request is being answered or queued."""
        if not self.busy and self.queue.empty() and self.transport is not None:
            self.transport.close()


class _TooLarge(Exception):
    pass


class HttpServer:
    """Serves ``handler`` on a listening socket until ``stop``."""

    def __init__(self, handler: Handler, max_request_bytes: int) -> None:
        self.handler = handler
        self.max_request_bytes = max_request_bytes
        self.connections: set[_Connection] = set()
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.draining = False
        self._server: asyncio.AbstractServer | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0 picks a free port); returns the bound port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port)
        return self._server.sockets[0].getsockname()[1]

    def stop_accepting(self) -> None:
        """Close the listening socket; open connections keep being served."""
        self.draining = True
        if self._server is not None:
            self._server.close()

    async def drain(self, timeout: float) -> None:
        """Wait (up to ``timeout`` s) for in-flight requests, then close every connection."""
        deadline = asyncio.get_running_loop().time() + timeout
        for conn in list(self.connections):
            conn.close_if_idle()
        while self.in_flight and asyncio.get_running_loop().time() < deadline:
            self.idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.idle.wait(), 0.05)
            for conn in list(self.connections):
                conn.close_if_idle()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
