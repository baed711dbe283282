"""A small HTTP/1.1 server on asyncio + httptools (keep-alive, pipelining, body limits).

Requests on one connection are answered strictly in order by one task per connection, so
pipelined requests are safe. Bodies over ``max_request_bytes`` get 413 and the connection is
closed; unparsable HTTP gets 400 and is closed. A client that disconnects mid-request only
ends its own connection. ``stop_accepting`` + ``drain`` implement graceful shutdown.

Hardening: a connection waiting for request headers (new, or idle between keep-alive requests)
is closed once ``header_timeout`` seconds pass without a complete header block (408 if a
request had started, silently if it was idle; checked by a sweep every quarter timeout, at
most 1 s); trickling bytes does not extend the deadline. A request body that stops arriving
is cut the same way: once the headers are in, the deadline restarts at every body chunk, so
a body stalled for ``header_timeout`` seconds gets 408 and the connection is closed (nginx's
``client_body_timeout``).
A header block (request line + headers) over ``MAX_HEADER_BYTES`` gets 431 and the connection
is closed. ``max_concurrent`` > 0 (``--rest_api_num_threads``) caps the requests answered at
once; the others wait their turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httptools

from serving.task_errors import report, spawn

__all__ = ["HttpRequest", "HttpResponse", "HttpServer", "MAX_HEADER_BYTES"]

log = logging.getLogger(__name__)

_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    408: "Request Timeout", 409: "Conflict", 413: "Payload Too Large",
    429: "Too Many Requests", 431: "Request Header Fields Too Large",
    499: "Client Closed Request", 500: "Internal Server Error", 501: "Not Implemented",
    503: "Service Unavailable", 504: "Gateway Timeout",
}
_REASONS.update({301: "Moved Permanently", 304: "Not Modified", 405: "Method Not Allowed"})
_MAX_PIPELINED = 64  # parsed-but-unanswered requests before we stop reading
_LINGER_SECONDS = 2.0  # how long a rejected connection keeps draining input
MAX_HEADER_BYTES = 64 * 1024  # request line + headers of one request (431 above)


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
        self.in_headers = True  # between a request's start (or idleness) and its headers' end
        # Two lower bounds of the current header block's size (either over the limit: 431):
        # parsed request line + headers, and whole chunks that fell inside the block.
        self.header_bytes = 0
        self.header_chunk_bytes = 0
        self.headers_too_large = False
        self.messages_begun = 0
        # monotonic time the request's headers became due, or its body last made progress
        self.header_since: float | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        """Register the connection and start its in-order responder."""
        self.transport = transport
        self.server.connections.add(self)
        self.worker = spawn(self._serve(), "http-connection")
        self._arm_header_timer()

    def connection_lost(self, exc) -> None:
        """Forget the connection; a running handler finishes, its answer is dropped."""
        self.server.connections.discard(self)
        self.closing = True
        self._disarm_header_timer()
        if self.worker is not None and not self.busy:
            self.worker.cancel()
        self.queue.put_nowait(None)

    def data_received(self, data: bytes) -> None:
        """Feed bytes to the parser; protocol errors answer 400 (or 413) and close."""
        if self.closing:
            return
        begun = self.messages_begun
        try:
            self.parser.feed_data(data)
            # Bytes fed while a header block stays incomplete all belong to it (a chunk that
            # also ended the previous request is left out: at most one chunk uncounted).
            if self.in_headers and self.current is not None and begun == self.messages_begun:
                self.header_chunk_bytes += len(data)
                if self.header_chunk_bytes > MAX_HEADER_BYTES:
                    self._reject_headers_too_large()
        except httptools.HttpParserError:
            if self.headers_too_large:
                self._reject_headers_too_large()
            elif self.too_large:
                limit = self.server.max_request_bytes
                message = f"Request body is larger than --max_request_bytes ({limit} bytes)"
                self._reject(413, b'{\n    "error": "' + message.encode() + b'"\n}', True)
            else:
                self._reject(400, b"", False)

    # -- httptools callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        """httptools callback: a new request starts (its header deadline runs)."""
        self.current = HttpRequest(method="", url=b"")
        self.body_parts, self.body_size = [], 0
        self.in_headers, self.header_bytes, self.header_chunk_bytes = True, 0, 0
        self.messages_begun += 1
        self._arm_header_timer()

    def on_url(self, url: bytes) -> None:
        """httptools callback: (part of) the request target."""
        self.current.url += url
        self.header_bytes += len(url)
        if self.header_bytes > MAX_HEADER_BYTES:
            self._headers_too_large()

    def on_header(self, name: bytes, value: bytes) -> None:
        """httptools callback: one header."""
        key = name.decode("latin-1").lower()
        self.current.headers[key] = value.decode("latin-1")
        self.header_bytes += len(name) + len(value) + 4
        if self.header_bytes > MAX_HEADER_BYTES:
            self._headers_too_large()

    def _headers_too_large(self) -> None:
        self.headers_too_large = True
        raise _TooLarge()  # stops the parser; data_received answers 431

    def on_headers_complete(self) -> None:
        """httptools callback: method, keep-alive, early 413 on Content-Length."""
        self.in_headers = False
        self.header_since = time.monotonic()  # now the body's deadline (until message end)
        self.current.method = self.parser.get_method().decode("latin-1")
        self.current.keep_alive = self.parser.should_keep_alive()
        length = self.current.headers.get("content-length", "0")
        if length.isdigit() and int(length) > self.server.max_request_bytes:
            self.too_large = True
            raise _TooLarge()
        if self.current.headers.get("expect", "").lower() == "100-continue":
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits 1 s without

    def on_body(self, body: bytes) -> None:
        """httptools callback: a body chunk (413 past the limit); restarts the deadline."""
        self.header_since = time.monotonic()
        self.body_size += len(body)
        if self.body_size > self.server.max_request_bytes:
            self.too_large = True
            raise _TooLarge()
        self.body_parts.append(body)

    def on_message_complete(self) -> None:
        """httptools callback: queue the request; pause reading if too many wait."""
        self._disarm_header_timer()
        self.current.body = b"".join(self.body_parts)
        self.queue.put_nowait(self.current)
        self.current = None
        if self.queue.qsize() >= _MAX_PIPELINED and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    # -- header deadline and size ---------------------------------------------------------
    # A timestamp, not a timer per request (call_later + cancel cost ~5 us a request): the
    # server's sweeper closes connections whose headers are overdue.
    def _arm_header_timer(self) -> None:
        if self.header_since is None and not self.closing:
            self.header_since = time.monotonic()

    def _disarm_header_timer(self) -> None:
        self.header_since = None

    def header_overdue(self, now: float) -> bool:
        """Whether the header deadline has passed (the sweeper then calls ``header_timeout``)."""
        since = self.header_since
        return since is not None and now - since >= self.server.header_timeout

    def header_timeout(self) -> None:
        """No complete header block in time: close (408 if a request had started)."""
        if self.closing or self.transport is None:
            return
        if self.busy or not self.queue.empty():  # still answering: look again next sweep
            return
        self.header_since = None
        self.server.header_timeouts += 1
        if self.current is not None:
            self._reject(408, b"", False)
        else:
            self.closing = True
            self.transport.close()

    def _reject_headers_too_large(self) -> None:
        message = f"Request header block is larger than {MAX_HEADER_BYTES} bytes"
        self._reject(431, b'{\n    "error": "' + message.encode() + b'"\n}', True)

    # -- responses -------------------------------------------------------------------------
    def _reject(self, status: int, body: bytes, json_body: bool) -> None:
        """Answer a protocol-level error after the queued requests, then close."""
        self.closing = True
        self._disarm_header_timer()
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
                if self.server.limit is None:
                    response = await self.server.handler(item)
                else:
                    async with self.server.limit:
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
            if self.queue.empty() and (self.current is None or self.in_headers):
                self._arm_header_timer()  # idle again: the next request's headers are due
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

    def __init__(
        self,
        handler: Handler,
        max_request_bytes: int,
        *,
        header_timeout: float = 30.0,
        max_concurrent: int = 0,
    ) -> None:
        self.handler = handler
        self.max_request_bytes = max_request_bytes
        self.header_timeout = header_timeout
        self.header_timeouts = 0  # connections closed for incomplete headers
        self.sweep_errors = 0
        self._sweeper: asyncio.Task | None = None
        self.limit = asyncio.Semaphore(max_concurrent) if max_concurrent > 0 else None
        self.connections: set[_Connection] = set()
        self.in_flight = 0
        self.idle = asyncio.Event()
        self.draining = False
        self._server: asyncio.AbstractServer | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0 picks a free port); returns the bound port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port)
        self._sweeper = spawn(self._sweep(), "http-header-sweeper")
        return self._server.sockets[0].getsockname()[1]

    async def _sweep(self) -> None:
        """Close connections whose request headers are overdue (every quarter timeout, <= 1 s)."""
        period = min(1.0, self.header_timeout / 4)
        while True:
            await asyncio.sleep(period)
            try:
                now = time.monotonic()
                for conn in [c for c in self.connections if c.header_overdue(now)]:
                    conn.header_timeout()
            except Exception:  # keep sweeping; count and log what went wrong
                self.sweep_errors += 1
                log.exception("HTTP header-deadline sweep failed")

    def stop_accepting(self) -> None:
        """Close the listening socket; open connections keep being served."""
        self.draining = True
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

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
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
