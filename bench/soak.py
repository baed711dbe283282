"""Soak benchmark (issue 7): ``serving serve`` under constant load for 10 minutes.

One server process (batching on) serves the exported MobileNet; the ``clients bench`` engine
drives it closed-loop at one concurrency in back-to-back segments (``--segment`` s each, the
loop restarts between segments in a few milliseconds). After every segment the server's RSS
is read with psutil, so the report is a time series: requests, errors, sampled answers
checked, p50/p99 and RSS per segment. Targets: zero errors, zero wrong answers, and RSS growth
under 10% from the end of the warm-up segments to the end of the run.

Run from the repository root::

    python bench/soak.py runs/bench/mobilenet_a025_128              # 10 min + export
    python bench/soak.py models/NAME/VERSION --minutes 1 --segment 10   # quick look

Writes ``--out`` (markdown) and ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from serving_bench import add_source_args, load_items, serve_base, write_outputs
from serving_points import Workloads, _loop_factory
from serving_servers import BatchingConfig, ServerProcess, serving_command

from clients.bench_run import BenchConfig, measure
from clients.bench_stats import summarize
from clients.bench_targets import GrpcTarget, RestTarget, check_samples

log = logging.getLogger("soak")


def segment(server: ServerProcess, wl: Workloads, args: argparse.Namespace) -> dict[str, Any]:
    """One back-to-back load segment; its counts, latency and the server's RSS after it."""
    client = wl.client(args.protocol)
    payloads = wl.payloads(args.protocol, args.mode, args.batch_size)
    if args.protocol == "rest":
        target: Any = RestTarget(server.rest_url, client.predict_path, payloads.bodies, 30.0)
    else:
        target = GrpcTarget(server.grpc_target, client.predict_method, payloads.bodies, 30.0)
    # stability 0: windows never "agree", so every segment measures its full length
    cfg = BenchConfig(warmup=0.0, window=args.segment / 3, duration=args.segment,
                      stability=0.0, timeout=30.0)
    with asyncio.Runner(loop_factory=_loop_factory(args.protocol)) as runner:
        windows, _, rec = runner.run(measure(target, args.concurrency, None, cfg))
    merged = summarize(windows)
    checked, bad = check_samples(client, payloads, rec.samples)
    assert server.proc is not None
    pct = merged.percentiles()
    return {"requests": merged.ok, "errors": dict(merged.errors), "req_per_s": merged.throughput,
            "p50_ms": pct["p50"] * 1000, "p99_ms": pct["p99"] * 1000,
            "checked": checked, "wrong": bad,
            "rss_mb": psutil.Process(server.proc.pid).memory_info().rss / 2**20}


def render(argv: list[str], cmd: str, rows: list[dict[str, Any]], warm: int) -> str:
    """The markdown report: verdicts first, then the per-segment series."""
    errors = sum(sum(r["errors"].values()) for r in rows)
    wrong = sum(r["wrong"] for r in rows)
    base, last = rows[warm - 1]["rss_mb"], rows[-1]["rss_mb"]
    growth = (last - base) / base * 100
    peak = max(r["rss_mb"] for r in rows[warm:])
    total = sum(r["requests"] for r in rows)
    yes = {True: "met", False: "**not met**"}
    lines = [f"Command: `{shlex.join(['python', *argv])}`", "", f"Server: `{cmd}`", "",
             "| target | measured | met |", "|---|---|---|",
             f"| zero errors | {errors} errors in {total:,} requests | {yes[errors == 0]} |",
             f"| correct answers | {wrong} wrong of "
             f"{sum(r['checked'] for r in rows)} checked | {yes[wrong == 0]} |",
             f"| RSS growth after warm-up < 10% | {base:.0f} → {last:.0f} MB "
             f"({growth:+.1f}%), peak {peak:.0f} MB | {yes[growth < 10]} |", "",
             "| segment | end s | req/s | p50 ms | p99 ms | errors | checked | RSS MB |",
             "|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        tag = " (warm-up)" if i < warm else ""
        lines.append(f"| {i + 1}{tag} | {r['end_s']:.0f} | {r['req_per_s']:.1f} | "
                     f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {sum(r['errors'].values())} | "
                     f"{r['checked']} | {r['rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse arguments, serve, soak, write the report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_source_args(p)
    p.add_argument("--platform", default="tensorflow")
    p.add_argument("--protocol", default="grpc", choices=["grpc", "rest"])
    p.add_argument("--mode", default="server-resize")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--segment", type=float, default=30.0, help="seconds per segment")
    p.add_argument("--warmup-segments", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("bench/results/soak.md"))
    p.add_argument("--json", type=Path, default=Path("bench/results/soak.json"))
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        _, base, _ = serve_base(args.source, workdir)
        serve_args = serving_command(base, args.platform, workdir, BatchingConfig())
        rows: list[dict[str, Any]] = []
        with ServerProcess("serving", serve_args, workdir / "serving.log") as server:
            wl = Workloads(server, load_items(args.data, 256), 30.0)
            started = time.perf_counter()
            count = max(args.warmup_segments + 1, round(args.minutes * 60 / args.segment))
            for i in range(count):
                row = segment(server, wl, args)
                row["end_s"] = time.perf_counter() - started
                rows.append(row)
                log.info("segment %d/%d: %.1f req/s, errors %s, RSS %.0f MB", i + 1, count,
                         row["req_per_s"], row["errors"], row["rss_mb"])
            wl.close()
            shown = server.display.replace(str(workdir), "WORKDIR")
        text = render(sys.argv, shown, rows, args.warmup_segments)
        write_outputs([(args.out, text), (args.json, json.dumps(rows, indent=1))])
        print(text)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
