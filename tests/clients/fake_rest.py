"""A TF-Serving-shaped REST stub (http.server, HTTP/1.1 keep-alive) around ``FakeModel``.

``FakeRestServer`` runs in a thread on 127.0.0.1:0. ``fail_next`` holds HTTP statuses to
answer (with an ``{"error": ...}`` body), or ``(status, raw_body)`` pairs, before serving
normally; ``delay`` sleeps before
each answer; ``requests`` counts requests by path; ``bodies`` keeps the last request body.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import numpy as np

from tests.clients.fake_model import FakeError, FakeModel

_HTTP = {"NOT_FOUND": 404, "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400,
         "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}
_POST = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:predict$")
_GET = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?(/metadata)?$")


def _decode_value(v):
    if isinstance(v, dict) and "b64" in v:
        return base64.b64decode(v["b64"])
    if isinstance(v, list):
        return [_decode_value(x) for x in v]
    return v


def _tensor(value) -> np.ndarray:
    decoded = _decode_value(value)
    arr = np.array(decoded, dtype=object) if _has_bytes(decoded) else np.array(decoded)
    return arr


def _has_bytes(v) -> bool:
    return isinstance(v, bytes) or (isinstance(v, list) and bool(v) and _has_bytes(v[0]))


def _jsonable(arr: np.ndarray):
    if arr.dtype == object:
        return [[x.decode() for x in row] for row in arr]
    return arr.tolist()


class FakeRestServer:
    """Context manager: ``with FakeRestServer() as srv: srv.url``."""

    def __init__(self, model: FakeModel | None = None, ssl_context=None) -> None:
        """``ssl_context`` (server side) makes it an HTTPS server (a TLS proxy stand-in)."""
        self.model = model or FakeModel()
        self.fail_next: list[int | tuple[int, bytes]] = []
        self.delay = 0.0
        self.requests: list[str] = []
        self.bodies: list[dict] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, payload: dict) -> None:
                self._send_raw(status, json.dumps(payload).encode())

            def _send_raw(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer._lock:
                    outer.requests.append(f"{method} {self.path}")
                    failing = outer.fail_next.pop(0) if outer.fail_next else None
                if outer.delay:
                    time.sleep(outer.delay)
                if isinstance(failing, tuple):  # (status, raw body): malformed answers
                    self._send_raw(*failing)
                    return
                if failing is not None:
                    self._send(failing, {"error": f"injected failure {failing}"})
                    return
                try:
                    self._send(200, outer.dispatch(method, self.path, body))
                except FakeError as err:
                    self._send(_HTTP.get(err.code, 500), {"error": err.message})
                except Exception as exc:  # a bug in a request: answer 500, keep serving
                    self._send(500, {"error": f"fake server failed: {exc!r}"})

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def dispatch(self, method: str, path: str, body: bytes) -> dict:
        """Answer one request the way TF Serving would."""
        m = (_POST if method == "POST" else _GET).match(path)
        if not m:
            raise FakeError("INVALID_ARGUMENT", f"Malformed request: {method} {path}")
        name, version, label = unquote(m.group(1)), m.group(2), m.group(3)
        version = int(version) if version else None
        label = unquote(label) if label else None
        if method == "GET" and not m.group(4):
            return self.model.status(name, version)
        resolved = self.model.resolve(name, version, label)
        if method == "GET":
            return self.model.metadata(resolved)
        req = json.loads(body)
        self.bodies.append(req)
        sig = req.get("signature_name", "serving_default")
        sigs = self.model.metadata(resolved)["metadata"]["signature_def"]["signature_def"]
        alias = next(iter(sigs[sig]["inputs"])) if sig in sigs else "?"
        if "instances" in req:
            rows = req["instances"]
            if rows and isinstance(rows[0], dict) and set(rows[0]) != {"b64"}:
                inputs = {k: _tensor([r[k] for r in rows]) for k in rows[0]}
            else:
                inputs = {alias: _tensor(rows)}
        elif isinstance(req["inputs"], dict) and set(req["inputs"]) != {"b64"}:
            inputs = {k: _tensor(v) for k, v in req["inputs"].items()}
        else:
            inputs = {alias: _tensor(req["inputs"])}
        outputs = self.model.predict(resolved, sig, inputs)
        if "instances" in req:
            n = len(outputs["probabilities"])
            return {"predictions": [{k: _jsonable(v)[i] for k, v in outputs.items()}
                                    for i in range(n)]}
        return {"outputs": {k: _jsonable(v) for k, v in outputs.items()}}

    def __enter__(self) -> FakeRestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
