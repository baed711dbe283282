"""A/B: cost of the HTTP header deadline and 431 accounting per keep-alive request.

Loads ``serving/http_server.py`` from ``--old-rev`` (git) and from the working tree, serves a
handler that answers at once on each, and times sequential keep-alive requests from one raw
loopback socket (the server's per-request overhead dominates). Rounds alternate old/new so both
see the same machine load.

Usage::

    python bench/http_hardening_ab.py [--old-rev 175a5b4] [--rounds 40] [--requests 500]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUEST = b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


def load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def start(module) -> tuple[asyncio.AbstractEventLoop, int]:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    async def handler(request):
        return module.HttpResponse(200, b'{"ok": 1}')

    server = module.HttpServer(handler, 1_000_000)
    port = asyncio.run_coroutine_threadsafe(server.start("127.0.0.1", 0), loop).result(10)
    return loop, port


def time_requests(port: int, count: int) -> float:
    """Microseconds per request, sequential on one keep-alive connection."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        for _ in range(count):
            sock.sendall(REQUEST)
            data = b""
            while not data.endswith(b'{"ok": 1}'):
                data += sock.recv(4096)
        return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-rev", default="175a5b4")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    old_source = subprocess.run(
        ["git", "show", f"{args.old_rev}:serving/http_server.py"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        old_path = Path(tmp) / "http_server_old.py"
        old_path.write_text(old_source)
        modules = {"old": load_module("http_server_old", old_path),
                   "new": load_module("http_server_new", REPO / "serving/http_server.py")}
        ports = {name: start(module)[1] for name, module in modules.items()}
        for port in ports.values():
            time_requests(port, 300)  # warm up
        results: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(args.rounds):
            for name in ("old", "new"):
                results[name].append(time_requests(ports[name], args.requests))
    for name in ("old", "new"):
        values = results[name]
        print(f"{name}: median {statistics.median(values):.1f} us/request "
              f"(min {min(values):.1f}, max {max(values):.1f}) over {args.rounds} rounds")
    ratios = [n / o for o, n in zip(results["old"], results["new"], strict=True)]
    print(f"new/old: median of paired rounds {statistics.median(ratios):.3f}, "
          f"of minima {min(results['new']) / min(results['old']):.3f}")


if __name__ == "__main__":
    main()
