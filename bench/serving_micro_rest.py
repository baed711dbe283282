"""REST round trip for ``bench/serving_micro.py``: an in-process REST server per code version,
driven by a client in a separate process (so the client does not hold the servers' GIL).

``start_rest_server`` runs one package's ``HttpServer`` + ``RestApi`` + ``ServingCore`` (no
batching, two inference threads, as ``serving serve`` on this machine) on its own event-loop
thread over a loaded backend; ``client_round_trip_ms`` posts one body ``calls`` times over one
keep-alive connection from a fresh ``python`` process and returns the median latency.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
import sys
import threading
from typing import Any

__all__ = ["start_rest_server", "client_round_trip_ms"]

_CLIENT = r"""
import http.client, json, statistics, sys, time
port, calls, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
body = open(path, "rb").read()
conn = http.client.HTTPConnection("127.0.0.1", port)
samples = []
for i in range(calls + 5):
    start = time.perf_counter()
    conn.request("POST", "/v1/models/m:predict", body, {"Content-Type": "application/json"})
    reply = conn.getresponse()
    reply.read()
    if reply.status != 200:
        raise SystemExit(f"HTTP {reply.status}")
    if i >= 5:
        samples.append(time.perf_counter() - start)
print(json.dumps(statistics.median(samples) * 1e3))
"""


class _OneModel:
    """The manager subset ``ServingCore`` needs: every request resolves to one version."""

    def __init__(self, served: Any) -> None:
        self.served = served

    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> Any:
        """The single served version."""
        return self.served


def start_rest_server(pkg: str, backend: Any) -> int:
    """Serve ``backend`` as model ``m`` over REST with package ``pkg``; returns the port.

    The server lives on a daemon thread until the process exits.
    """
    core_mod = importlib.import_module(f"{pkg}.core")
    rest_mod = importlib.import_module(f"{pkg}.rest")
    http_mod = importlib.import_module(f"{pkg}.http_server")
    servables = importlib.import_module(f"{pkg}.servables")
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    async def start() -> int:
        served = servables.ServedVersion("m", 1, backend.platform, backend)
        core = core_mod.ServingCore(_OneModel(served), workers=2)
        api = rest_mod.RestApi(core, rest_mod.RestOptions())
        server = http_mod.HttpServer(api, 256 * 1024 * 1024)
        return await server.start("127.0.0.1", 0)

    return asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)


def client_round_trip_ms(port: int, body_path: str, calls: int) -> float:
    """Median ms of ``calls`` sequential POSTs of the body at ``body_path`` (concurrency 1)."""
    out = subprocess.run(
        [sys.executable, "-c", _CLIENT, str(port), str(calls), body_path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(json.loads(out))
