"""A trivial HTTP endpoint that serves one request at a time and can stall once.

``StallServer.stall(seconds)`` makes the next request hold the (global) lock for that long,
like a GC pause or a slow batch would: every request behind it waits.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = b'{"predictions": [[0.5, 0.5]]}'


class StallServer:
    """Context manager: ``with StallServer() as srv: srv.url``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stall = 0.0
        self.served = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer._lock:
                    pause, outer._stall = outer._stall, 0.0
                    if pause:
                        time.sleep(pause)
                    outer.served += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def stall(self, seconds: float) -> None:
        """The next request takes ``seconds`` (and blocks all others meanwhile)."""
        self._stall = seconds

    def __enter__(self) -> StallServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
