"""How fast can ``clients bench`` drive a trivial endpoint on this machine, and does it agree
with ``wrk``?

Without ``--server`` it starts ``bench/clients_trivial_server.py`` (uvloop, fixed answer) in a
subprocess and drives it; with ``--server URL --model NAME`` it drives a real TF-Serving REST
endpoint with a client-resize predict body built by ``RestClient``. Either way it runs the
bench engine's closed loop at each concurrency and, with ``--wrk``, ``wrk`` (Debian package)
with the same body and concurrency, and prints requests/s and p50. Usage::

    python bench/clients_ceiling.py [--seconds 5] [--concurrency 1,16,64] [--wrk] [--json OUT]
    python bench/clients_ceiling.py --server http://127.0.0.1:8501 --model NAME --wrk
    python bench/clients_ceiling.py --grpc [--concurrency 1,16,64]   # gRPC generator ceiling
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from clients.bench_run import BenchConfig, measure
from clients.bench_stats import summarize
from clients.bench_targets import GrpcTarget, RestTarget

HERE = Path(__file__).resolve().parent


def start_server(grpc: bool = False) -> tuple[subprocess.Popen, int]:
    """The trivial endpoint in its own process (so it gets the other core)."""
    port_file = Path(tempfile.mkdtemp()) / "port"
    proc = subprocess.Popen([sys.executable, str(HERE / "clients_trivial_server.py"),
                             str(port_file), *(["--grpc"] if grpc else [])])
    for _ in range(100):
        if port_file.exists():
            return proc, int(port_file.read_text())
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("trivial server did not start")


TRIVIAL_BODY = b'{"instances": [[1.0, 2.0]]}'


def engine_point(url: str, path: str, body: bytes, concurrency: int, seconds: float) -> dict:
    """One closed-loop point of the bench engine."""
    import uvloop

    target = RestTarget(url, path, [body])
    cfg = BenchConfig(warmup=1.0, duration=seconds, window=seconds / 3, stability=0.0)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        windows, _, rec = runner.run(measure(target, concurrency, None, cfg))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    merged = summarize(windows)
    pct = merged.percentiles()
    sent = len(rec.lat) + sum(rec.errors.values())
    return {"tool": "clients bench", "concurrency": concurrency,
            "requests_per_s": merged.throughput, "p50_ms": pct["p50"] * 1000,
            "p99_ms": pct["p99"] * 1000, "errors": dict(merged.errors),
            "generator_cpu_share": cpu / wall,
            "generator_cpu_us_per_request": 1e6 * cpu / sent if sent else None}


def grpc_engine_point(port: int, concurrency: int, seconds: float) -> dict:
    """One closed-loop point of the gRPC bench engine against the trivial gRPC endpoint."""
    target = GrpcTarget(f"127.0.0.1:{port}", "/tensorflow.serving.PredictionService/Predict",
                        [b""])
    cfg = BenchConfig(warmup=1.0, duration=seconds, window=seconds / 3, stability=0.0)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    windows, _, _ = asyncio.run(measure(target, concurrency, None, cfg))
    merged = summarize(windows)
    return {"tool": "clients bench (gRPC)", "concurrency": concurrency,
            "requests_per_s": merged.throughput,
            "p50_ms": merged.percentiles()["p50"] * 1000,
            "generator_cpu_share": (time.process_time() - cpu0) / (time.perf_counter() - wall0),
            "generator_cpu_us_per_request": None}


def wrk_point(url: str, path: str, body: bytes, concurrency: int,
              seconds: float) -> dict | None:
    """``wrk -t1 -c C -d S`` with the same POST body, or ``None`` without wrk."""
    if shutil.which("wrk") is None:
        return None
    tmp = Path(tempfile.mkdtemp())
    (tmp / "body.json").write_bytes(body)
    script = tmp / "post.lua"
    script.write_text('wrk.method = "POST"\n'
                      f'local f = io.open("{tmp / "body.json"}", "rb")\n'
                      'wrk.body = f:read("*a")\nf:close()\n'
                      'wrk.headers["Content-Type"] = "application/json"\n')
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{int(seconds)}s", "--latency",
                          "-s", str(script), url + path],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p50.group(2)]
    return {"tool": "wrk", "concurrency": concurrency, "requests_per_s": rps,
            "p50_ms": float(p50.group(1)) * scale}


def main() -> None:
    """Parse arguments, run the points, print a table (and JSON when asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--wrk", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--server", help="a TF-Serving REST URL instead of the trivial one")
    parser.add_argument("--model", default="m")
    parser.add_argument("--grpc", action="store_true", help="drive a trivial gRPC endpoint")
    args = parser.parse_args()
    proc = None
    if args.grpc:
        proc, port = start_server(grpc=True)
        try:
            rows = [grpc_engine_point(port, int(c), args.seconds)
                    for c in args.concurrency.split(",")]
        finally:
            proc.terminate()
            proc.wait(5)
        for r in rows:
            print(f"{r['tool']:>20}  c={r['concurrency']:<4} {r['requests_per_s']:10.0f} req/s"
                  f"  p50 {r['p50_ms']:.3f} ms  generator CPU {r['generator_cpu_share']:.0%}")
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2))
        return
    if args.server:
        import numpy as np

        from clients.rest import RestClient

        url = args.server.rstrip("/")
        client = RestClient(url, args.model)
        image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        plan = client.plan([image], "client-resize")
        body = client.encode_predict(plan.signature, {plan.input_alias: plan.groups[0].tensor},
                                     None)
        path = client.predict_path
    else:
        proc, port = start_server()
        url, path, body = f"http://127.0.0.1:{port}", "/v1/models/m:predict", TRIVIAL_BODY
    rows = []
    try:
        for c in (int(v) for v in args.concurrency.split(",")):
            rows.append(engine_point(url, path, body, c, args.seconds))
            if args.wrk:
                row = wrk_point(url, path, body, c, args.seconds)
                if row:
                    rows.append(row)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(5)
    for r in rows:
        extra = (f"  generator CPU {r['generator_cpu_share']:.0%} of a core, "
                 f"<= {r['generator_cpu_us_per_request']:.0f} us/request"
                 if "generator_cpu_share" in r else "")
        print(f"{r['tool']:>14}  c={r['concurrency']:<4} {r['requests_per_s']:10.0f} req/s  "
              f"p50 {r['p50_ms']:.3f} ms{extra}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
