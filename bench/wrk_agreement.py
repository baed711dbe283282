"""Does ``clients bench`` measure what ``wrk`` measures? (issues 6 and 7, section 4)

Starts ``serving serve`` on the exported model (``--platform``, batching off) and sends the
same REST ``serve_raw`` request (one raw 32x32 uint8 CIFAR image, built by ``RestClient``)
with the ``clients bench`` engine and with ``wrk -t1`` (Debian package) at each concurrency,
``--repeats`` interleaved pairs per concurrency with the order alternating, so slow drifts of
a noisy machine hit both tools alike. Reports the median (and range) of each tool's
throughput and p50 and the ratio of the medians. Target: within 10%.

Run from the repository root::

    python bench/wrk_agreement.py runs/bench/mobilenet_a025_128
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from clients_ceiling import engine_point, wrk_point
from serving_bench import add_source_args, load_items, serve_base, write_outputs
from serving_points import Workloads
from serving_servers import ServerProcess, serving_command

log = logging.getLogger("wrk_agreement")
TOOLS = ("clients bench", "wrk")


def pairs(server: ServerProcess, body: bytes, path: str, concurrency: int, repeats: int,
          seconds: float) -> list[dict[str, Any]]:
    """``repeats`` (engine, wrk) pairs at one concurrency, alternating which goes first."""
    rows = []
    for i in range(repeats):
        order = ("engine", "wrk") if i % 2 == 0 else ("wrk", "engine")
        for tool in order:
            if tool == "engine":
                row = engine_point(server.rest_url, path, body, concurrency, seconds)
            else:
                row = wrk_point(server.rest_url, path, body, concurrency, seconds)
            rows.append({**row, "repeat": i})
            log.info("c=%d %s: %.0f req/s p50 %.3f ms", concurrency, row["tool"],
                     row["requests_per_s"], row["p50_ms"])
    return rows


def summary(rows: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    """Median and range per tool and the engine/wrk ratio of medians for one concurrency."""
    out: dict[str, Any] = {"concurrency": concurrency}
    for key in ("requests_per_s", "p50_ms"):
        per_tool = {t: [r[key] for r in rows if r["tool"] == t] for t in TOOLS}
        med = {t: statistics.median(v) for t, v in per_tool.items()}
        out[key] = {t: {"median": med[t], "min": min(v), "max": max(v)}
                    for t, v in per_tool.items()}
        out[key]["ratio"] = med["clients bench"] / med["wrk"]
    return out


def render(argv: list[str], server_cmd: str, summaries: list[dict[str, Any]],
           repeats: int, seconds: float) -> str:
    """Markdown table: one row per concurrency and measure."""
    lines = [f"Command: `{shlex.join(['python', *argv])}`", "", f"Server: `{server_cmd}`", "",
             f"{repeats} interleaved pairs of {seconds:.0f} s points per concurrency; median "
             "[min–max]. Target: engine / wrk within 10% (ratio 0.90–1.10).", "",
             "| concurrency | measure | clients bench | wrk | ratio | within 10% |",
             "|---|---|---|---|---|---|"]
    for s in summaries:
        for key, name in (("requests_per_s", "req/s"), ("p50_ms", "p50 ms")):
            e, w, ratio = s[key]["clients bench"], s[key]["wrk"], s[key]["ratio"]
            digits = 0 if key == "requests_per_s" else 2
            lines.append(
                f"| {s['concurrency']} | {name} | {e['median']:.{digits}f} "
                f"[{e['min']:.{digits}f}–{e['max']:.{digits}f}] | {w['median']:.{digits}f} "
                f"[{w['min']:.{digits}f}–{w['max']:.{digits}f}] | {ratio:.2f} | "
                f"{'yes' if abs(ratio - 1) <= 0.10 else '**no**'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse arguments, serve the model, measure the pairs, write the report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_source_args(p)
    p.add_argument("--platform", default="tflite")
    p.add_argument("--concurrency", default="1,8")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--out", type=Path, default=Path("bench/results/wrk_agreement.md"))
    p.add_argument("--json", type=Path, default=Path("bench/results/wrk_agreement.json"))
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if shutil.which("wrk") is None:
        sys.exit("error: wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="wrk-agreement-"))
    try:
        _, base, _ = serve_base(args.source, workdir)
        serve_args = serving_command(base, args.platform, workdir, None)
        rows, summaries = [], []
        with ServerProcess("serving", serve_args, workdir / "serving.log") as server:
            wl = Workloads(server, load_items(args.data, 8), 30.0)
            body = wl.payloads("rest", "server-resize", 1).bodies[0]
            path = wl.client("rest").predict_path
            for c in (int(v) for v in args.concurrency.split(",")):
                found = pairs(server, body, path, c, args.repeats, args.seconds)
                rows += found
                summaries.append(summary(found, c))
            wl.close()
            shown = server.display.replace(str(workdir), "WORKDIR")
        text = render(sys.argv, shown, summaries, args.repeats, args.seconds)
        write_outputs([(args.out, text),
                       (args.json, json.dumps({"summary": summaries, "points": rows},
                                              indent=1))])
        print(text)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
