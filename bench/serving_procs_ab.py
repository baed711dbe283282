"""A/B probe for issue 18 part 2: one `serving serve` process vs two sharing the gRPC port.

grpcio binds with ``SO_REUSEPORT`` on Linux (its default ``grpc.so_reuseport=1``), so a second
``serving serve --port=P`` on the first one's port is accepted and the kernel spreads new
connections over both: two event loops, two GILs, two batchers, no code change. Each round
measures the same h2load load (``serve_raw``, one raw 32×32 uint8 image per request, batching
on) on A alone and on A+B, order alternating, with both processes' CPU per answered request.

    python bench/serving_procs_ab.py runs/bench/mobilenet_a025_128 [--platforms onnx,tflite]
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE), str(HERE / "peers")]

from loadgen import (  # noqa: E402
    PREDICT_PATH,
    check_tools,
    grpc_frame,
    h2load_point,
    h2load_response_bytes,
    tfserving_predict_message,
)
from serving_bench import serve_base, write_outputs  # noqa: E402
from serving_cpu import served_requests  # noqa: E402
from serving_servers import BatchingConfig, ServerProcess, serving_command  # noqa: E402

log = logging.getLogger("serving_procs_ab")


def measure(servers: list[ServerProcess], frame: bytes, reply: int, c: int,
            seconds: float) -> dict[str, Any]:
    """One h2load point on the shared port; CPU of all ``servers`` per answered request."""
    cpu0 = sum(s.cpu_seconds() for s in servers)
    n0 = sum(served_requests(s) for s in servers)
    row = h2load_point(servers[0].grpc_target, PREDICT_PATH, frame, c, seconds, reply,
                       warmup=0)
    cpu1 = sum(s.cpu_seconds() for s in servers)
    n1 = sum(served_requests(s) for s in servers)
    row["server_cpu_ms_per_request"] = (cpu1 - cpu0) / (n1 - n0) * 1000 if n1 > n0 else None
    row["per_process"] = [served_requests(s) for s in servers]
    return row


def platform_ab(platform: str, base: Path, workdir: Path, frame_of, args) -> list[dict]:
    """Rounds of (A alone, A+B) for one backend."""
    batching = BatchingConfig(max_batch_size=16, batch_timeout_micros=0, num_batch_threads=2)
    cmd = serving_command(base, platform, workdir, batching)
    rows = []
    with ServerProcess("serving", cmd, workdir / f"{platform}-a.log") as a:
        frame = frame_of()
        reply = h2load_response_bytes(a.grpc_target, PREDICT_PATH, frame)
        port = a.grpc_target.rsplit(":", 1)[1]
        cmd_b = [f"--port={port}" if arg.startswith("--port=") else arg for arg in cmd]
        for rnd in range(args.rounds):
            for layout in (("one", "two") if rnd % 2 == 0 else ("two", "one")):
                if layout == "one":
                    servers = [a]
                    points = [measure(servers, frame, reply, c, args.seconds) for c in (1, 16)]
                else:
                    with ServerProcess("serving", cmd_b, workdir / f"{platform}-b.log") as b:
                        h2load_point(a.grpc_target, PREDICT_PATH, frame, 4, 2, reply)  # warm
                        points = [measure([a, b], frame, reply, c, args.seconds)
                                  for c in (1, 16)]
                for c, row in zip((1, 16), points, strict=True):
                    row.update(platform=platform, layout=layout, concurrency=c, round=rnd)
                    rows.append(row)
                    log.info("%s r%d %s c=%d: %.0f req/s p50 %.2f cpu %s", platform, rnd,
                             layout, c, row["rps"], row["p50_ms"] or 0,
                             row["server_cpu_ms_per_request"])
        shown = shlex.join(["serving", *cmd]).replace(str(workdir), "WORKDIR")
    return [{**r, "server": shown} for r in rows]


def render(argv: list[str], rows: list[dict]) -> str:
    """Median per (platform, layout, c) and the two-process ÷ one-process ratios."""
    lines = ["**One vs two `serving serve` processes on one gRPC port (SO_REUSEPORT)**", "",
             f"Command: `{shlex.join(['python', *argv])}`; generated "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on a **shared** machine. "
             "Load: `h2load -c C -m 1` serve_raw, one image per request. Median over rounds.",
             "", "| platform | c | processes | req/s | p50 ms | server CPU ms/request | "
             "two ÷ one req/s |", "|---|---:|---|---:|---:|---:|---:|"]
    keys = dict.fromkeys((r["platform"], r["concurrency"]) for r in rows)
    for platform, c in keys:
        med = {}
        for layout in ("one", "two"):
            mine = [r for r in rows if (r["platform"], r["concurrency"], r["layout"])
                    == (platform, c, layout)]
            rps = statistics.median(r["rps"] for r in mine)
            p50 = statistics.median(r["p50_ms"] for r in mine if r["p50_ms"] is not None)
            cpu = statistics.median(r["server_cpu_ms_per_request"] for r in mine
                                    if r["server_cpu_ms_per_request"] is not None)
            med[layout] = rps
            ratio = f"{med['two'] / med['one']:.2f}" if layout == "two" else ""
            lines.append(f"| {platform} | {c} | {layout} | {rps:.0f} | {p50:.2f} | {cpu:.3f} | "
                         f"{ratio} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse arguments, run the A/B per platform, write the report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", type=Path, help="trainer run dir or exported version dir")
    p.add_argument("--data", type=Path,
                   default=Path("../shared/data/cifar10/lossless_train2000.npz"))
    p.add_argument("--platforms", default="onnx,tflite")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--out", type=Path, default=Path("bench/results/serving_procs_ab.md"))
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    check_tools()
    workdir = Path(tempfile.mkdtemp(prefix="procs-ab-"))
    _, base, _ = serve_base(args.source, workdir)
    with np.load(args.data) as npz:
        one = np.ascontiguousarray(npz["x"][:1])

    def frame_of() -> bytes:
        return grpc_frame(tfserving_predict_message("m", "serve_raw", "image", one))

    rows = [r for pl in args.platforms.split(",") if pl.strip()
            for r in platform_ab(pl.strip(), base, workdir, frame_of, args)]
    text = render(sys.argv, rows)
    write_outputs([(args.out, text),
                   (args.out.with_suffix(".json"), json.dumps(rows, indent=1))])
    print(text)


if __name__ == "__main__":
    main()
