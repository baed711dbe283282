"""Server CPU per REST request: our HTTP server vs uvicorn (httptools) vs granian (RSGI).

Issue 17 keeps ``serving/http_server.py`` only if it is cheaper per request than the
maintained servers by a clear margin. Every front end here answers through the same
``serving.rest.RestApi`` over the same ``ServingCore`` and a stub backend (zeros, no model),
so only the HTTP layer differs:

- ``ours``: ``serving.http_server.HttpServer`` on uvloop (what ``serving serve`` runs);
- ``uvicorn``: uvicorn with ``http="httptools"``, ``loop="uvloop"``, an ASGI adapter that
  turns the scope + body into an ``HttpRequest`` and sends the ``HttpResponse``;
- ``granian``: granian (Rust HTTP/1.1) with one worker, one runtime thread, the uvloop loop,
  and an RSGI adapter doing the same.

Load: ``wrk`` (``bash scripts/install_tools.sh``) POSTs one body over keep-alive connections
at concurrency 1 and 8: the 13 kB ``serve_raw`` body (one 32x32 uint8 image) and the 490 kB
client-resized float body (128x128). Primary number: the server's CPU seconds per request
(utime + stime of its process tree from ``/proc`` before and after each point, divided by
wrk's request count), which load on the machine barely moves; throughput is secondary.
Front ends and points are interleaved round by round; the table gives per point the median
over rounds.

Usage::

    python bench/http_frontends.py [--rounds 3] [--seconds 4] [--frontends ours,uvicorn,granian]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PATH = "/v1/models/m:predict"
FRONTENDS = ("ours", "uvicorn", "granian")
_TICKS = os.sysconf("SC_CLK_TCK")


# -- the served side: one RestApi over a stub backend --------------------------------------
class StubBackend:
    """``serving_default`` (float 128x128x3) and ``serve_raw`` (uint8 image) -> zeros."""

    platform = "onnx"

    def __init__(self) -> None:
        from serving.backends.signature_io import DT, TensorSpec
        from serving.backends.synthetic_signatures import signature_def_map

        out = {"probabilities": TensorSpec("out:0", DT.FLOAT, (-1, 10))}
        self._defs = signature_def_map({
            "serving_default": ({"image": TensorSpec("a:0", DT.FLOAT, (-1, 128, 128, 3))}, out),
            "serve_raw": ({"image": TensorSpec("b:0", DT.UINT8, (-1, -1, -1, 3))}, out),
        })

    def signature_defs(self):
        """The two signatures."""
        return self._defs

    def predict(self, signature_name, inputs, output_filter=()):
        """Ten zeros per image."""
        return {"probabilities": np.zeros((len(inputs["image"]), 10), np.float32)}


class _OneModel:
    """The manager subset ``ServingCore`` needs: every name resolves to the stub."""

    def __init__(self) -> None:
        from serving.servables import ServedVersion

        self.served = ServedVersion("m", 1, "onnx", StubBackend())

    def resolve(self, name, version=None, label=None):
        """The stub version."""
        return self.served


_API = None


def rest_api():
    """The process's one ``RestApi`` (built on first use, inside the running loop)."""
    global _API
    if _API is None:
        from serving.core import ServingCore
        from serving.rest import RestApi, RestOptions

        _API = RestApi(ServingCore(_OneModel(), workers=2), RestOptions())
    return _API


async def asgi_app(scope, receive, send) -> None:
    """ASGI adapter (uvicorn) around ``RestApi``."""
    from serving.http_server import HttpRequest

    if scope["type"] != "http":
        return
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    url = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    response = await rest_api()(HttpRequest(scope["method"], url, headers, b"".join(parts)))
    await send({
        "type": "http.response.start",
        "status": response.status,
        "headers": [(k.encode(), v.encode()) for k, v in response.headers],
    })
    await send({"type": "http.response.body", "body": response.body})


async def rsgi_app(scope, protocol) -> None:
    """RSGI adapter (granian) around ``RestApi``."""
    from serving.http_server import HttpRequest

    body = await protocol()
    url = (scope.path + ("?" + scope.query_string if scope.query_string else "")).encode()
    headers = {k: v for k, v in scope.headers.items()}
    response = await rest_api()(HttpRequest(scope.method, url, headers, body))
    protocol.response_bytes(response.status, response.headers, response.body)


def serve(frontend: str, port: int) -> None:
    """Run one front end on 127.0.0.1:``port`` until killed."""
    if frontend == "ours":
        import uvloop

        from serving.http_server import HttpServer

        async def main() -> None:
            server = HttpServer(rest_api(), 256 * 1024 * 1024)
            await server.start("127.0.0.1", port)
            await asyncio.Event().wait()

        uvloop.run(main())
    elif frontend == "uvicorn":
        import uvicorn

        uvicorn.run(asgi_app, host="127.0.0.1", port=port, http="httptools", loop="uvloop",
                    lifespan="off", access_log=False, log_level="warning")
    elif frontend == "granian":
        from granian import Granian

        Granian("http_frontends:rsgi_app", address="127.0.0.1", port=port, interface="rsgi",
                workers=1, runtime_threads=1, loop="uvloop", log_enabled=False).serve()
    else:
        raise SystemExit(f"unknown front end {frontend!r}; one of {', '.join(FRONTENDS)}")


# -- the driver ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid``'s process tree (all threads), in seconds."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def bodies() -> dict[str, bytes]:
    """The 13 kB ``serve_raw`` body and the 490 kB client-resized float body."""
    from serving.codecs.json_codec import encode_predict_request
    from serving.codecs.resize import resize_bilinear

    image = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    return {
        "raw 13kB": encode_predict_request(image, signature_name="serve_raw"),
        "float 490kB": encode_predict_request(resize_bilinear(image, 128)),
    }


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"no server on port {port} after {timeout} s")


def _wrk(port: int, script: Path, connections: int, seconds: int) -> tuple[int, float]:
    """(requests, requests/s) of one wrk run; any non-2xx answer aborts."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script),
         f"http://127.0.0.1:{port}{PATH}"],
        capture_output=True, text=True, check=True,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return requests, rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--frontends", default=",".join(FRONTENDS))
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: run bash scripts/install_tools.sh")
    frontends = args.frontends.split(",")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO)])}
    with tempfile.TemporaryDirectory() as tmp:
        scripts = {}
        for name, body in bodies().items():
            path = Path(tmp) / f"{len(scripts)}.json"
            path.write_bytes(body)
            scripts[name] = Path(tmp) / f"{len(scripts)}.lua"
            scripts[name].write_text(
                'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f'local f = io.open("{path}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
            )
        servers = {}
        try:
            for frontend in frontends:
                port = _free_port()
                proc = subprocess.Popen(
                    [sys.executable, str(Path(__file__).resolve()), "--serve", frontend,
                     "--port", str(port)], env=env,
                )
                servers[frontend] = (proc, port)
                _wait_port(port, proc)
            for _proc, port in servers.values():  # warm-up: imports, first parse, caches
                for script in scripts.values():
                    _wrk(port, script, 1, 1)
            results: dict[tuple, list[tuple[float, float]]] = {}
            for round_no in range(args.rounds):
                for name, script in scripts.items():
                    for connections in (1, 8):
                        for frontend, (proc, port) in servers.items():
                            before = cpu_seconds(proc.pid)
                            requests, rate = _wrk(port, script, connections, args.seconds)
                            used = cpu_seconds(proc.pid) - before
                            results.setdefault((name, connections, frontend), []).append(
                                (used / requests * 1e6, rate))
                print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
            for proc, _ in servers.values():
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    print("| body | c | front end | server CPU µs/request (median, min..max) | req/s | "
          "CPU vs ours |")
    print("|---|---:|---|---:|---:|---:|")
    for (name, connections, frontend), samples in results.items():
        cpu = [s[0] for s in samples]
        ours = statistics.median(s[0] for s in results.get((name, connections, "ours"), samples))
        print(f"| {name} | {connections} | {frontend} | {statistics.median(cpu):.0f} "
              f"({min(cpu):.0f}..{max(cpu):.0f}) | "
              f"{statistics.median(s[1] for s in samples):.0f} | "
              f"{statistics.median(cpu) / ours:.2f}x |")


if __name__ == "__main__":
    main()
