"""Against the servers users would pick instead (issue 18 part 1): ours, KServe, PyTriton and
MLServer serving the same exported ONNX model, loaded by independent C/C++ generators.

- REST: ``wrk`` POSTs the same TF Serving V1 ``:predict`` body (one client-resized image,
  ``{"instances": [...]}``, about 1 MB of JSON) to ours and to KServe (V1 is the same body).
- gRPC: ``perf_analyzer`` sends one random float ``1×128×128×3`` tensor per request:
  ``--service-kind=tfserving`` for ours, ``--service-kind=triton`` (V2) for the peers.
- Agreement: the same gRPC load on ours with ``clients bench`` beside ``perf_analyzer``.

All servers run at once (idle between their points) and the points are interleaved: every
round measures every (server, concurrency) once, in an order that alternates between rounds,
so the drift of a shared machine hits all alike; the table gives the median over rounds and
the ratios of medians. Batching is on where a server has it (ours: TF Serving's batcher,
max batch 16, no timeout; PyTriton: Triton's dynamic batcher, max batch 16, no delay;
MLServer: adaptive batching, max 16, 1 ms; KServe's ``kserve.Model`` has none).

Run from the repository root after ``bash scripts/install_tools.sh``::

    python bench/peers/run.py runs/bench/mobilenet_a025_128        # a run dir or version dir
    python bench/peers/run.py VERSION_DIR --peers kserve --rounds 1 --seconds 3   # smoke

The peers install themselves into ``.tools/peers/NAME`` on first use (pinned; see
``servers.py``). Writes ``bench/results/peers.md`` and ``bench/results/peers.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from loadgen import (  # noqa: E402
    PREDICT_PATH,
    V2_INFER_PATH,
    check_tools,
    command_text,
    grpc_frame,
    h2load_point,
    h2load_response_bytes,
    perf_analyzer_point,
    tfserving_predict_message,
    v2_infer_message,
    wrk_point,
)
from servers import REQUIREMENTS, PeerProcess  # noqa: E402
from serving_bench import load_items, serve_base, write_outputs  # noqa: E402
from serving_points import Workloads  # noqa: E402
from serving_servers import BatchingConfig, ServerProcess, serving_command  # noqa: E402

log = logging.getLogger("peers")
OURS = "ours"


def clients_bench_point(target: str, concurrency: int, seconds: float,
                        data: Path) -> dict[str, Any]:
    """``clients bench`` over gRPC (client-resize, one image) at one concurrency."""
    with tempfile.TemporaryDirectory(prefix="peers-cb-") as tmp:
        out = Path(tmp) / "bench.json"
        cmd = [str(Path(sys.executable).parent / "clients"), "bench", "--grpc", target,
               "--model", "m", "--protocol", "grpc", "--mode", "client-resize", "--data", str(data),
               "--concurrency", str(concurrency), "--warmup", "1",
               "--duration", f"{seconds:g}", "--window", f"{seconds / 3:g}",
               "--json", str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 6 + 120)
        if done.returncode != 0 or not out.is_file():
            return {"rps": 0.0, "p50_ms": None, "p99_ms": None, "errors": None,
                    "note": "clients bench failed: " + done.stderr.strip()[-200:]}
        point = json.loads(out.read_text())["points"][0]
    lat = point["latency_ms"]
    return {"rps": point["throughput"], "p50_ms": lat.get("p50"), "p99_ms": lat.get("p99"),
            "errors": sum(point["errors"].values()), "note": ""}


def image_npz(data: Path, workdir: Path, count: int = 8) -> Path:
    """A small ``.npz`` of the first images for ``clients bench --data``."""
    import numpy as np

    path = workdir / "images.npz"
    with np.load(data) as npz:
        np.savez(path, x=npz["x"][:count], y=npz["y"][:count])
    return path


def median_of(rows: list[dict[str, Any]], key: str) -> float | None:
    """Median of one measure over rounds (None when no round produced it)."""
    values = [r[key] for r in rows if r.get(key) is not None and r.get("rps")]
    return statistics.median(values) if values else None


def summarize(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (protocol, server, concurrency): medians over rounds, errors summed."""
    keys = dict.fromkeys((p["protocol"], p["server"], p["concurrency"]) for p in points)
    rows = []
    for protocol, server, c in keys:
        mine = [p for p in points if (p["protocol"], p["server"], p["concurrency"])
                == (protocol, server, c)]
        errors = [p["errors"] for p in mine if p["errors"] is not None]
        rows.append({"protocol": protocol, "server": server, "concurrency": c,
                     "rounds": len(mine), "rps": median_of(mine, "rps"),
                     "p50_ms": median_of(mine, "p50_ms"), "p99_ms": median_of(mine, "p99_ms"),
                     "rps_range": [min(p["rps"] for p in mine), max(p["rps"] for p in mine)],
                     "errors": sum(errors) if errors else None,
                     "notes": sorted({p["note"] for p in mine if p["note"]})})
    return rows


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def render(head: list[str], rows: list[dict[str, Any]]) -> str:
    """The markdown table (ratios are ours / that server's, per protocol and concurrency)."""
    ours = {(r["protocol"], r["concurrency"]): r for r in rows if r["server"] == OURS}
    lines = [*head, "",
             "| protocol | generator | server | c | req/s (median [min–max]) | p50 ms | p99 ms "
             "| errors | ours ÷ this req/s |", "|---|---|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        mine = ours.get((r["protocol"], r["concurrency"]))
        ratio = (mine["rps"] / r["rps"]) if mine and mine["rps"] and r["rps"] else None
        gen = {"rest": "wrk", "grpc": "perf_analyzer", "grpc-h2load": "h2load",
               "grpc-clients": "clients bench"}[r["protocol"]]
        proto = "gRPC" if r["protocol"].startswith("grpc") else "REST"
        lo, hi = r["rps_range"]
        lines.append(f"| {proto} | {gen} | {r['server']} | {r['concurrency']} | "
                     f"{_fmt(r['rps'], 0)} [{lo:.0f}–{hi:.0f}] | {_fmt(r['p50_ms'], 2)} | "
                     f"{_fmt(r['p99_ms'], 2)} | {'–' if r['errors'] is None else r['errors']} | "
                     f"{'' if r['server'] == OURS or ratio is None else f'{ratio:.2f}'} |")
    notes = [f"- {r['protocol']} {r['server']} c={r['concurrency']}: {n}"
             for r in rows for n in r["notes"]]
    if notes:
        lines += ["", "Failures:", *notes]
    return "\n".join(lines) + "\n"


def agreement(rows: list[dict[str, Any]]) -> list[str]:
    """``clients bench`` ÷ ``perf_analyzer`` on ours, per concurrency."""
    pa = {r["concurrency"]: r for r in rows if r["protocol"] == "grpc" and r["server"] == OURS}
    out = ["", "| c | perf_analyzer req/s | clients bench req/s | ratio | within 10% |",
           "|---:|---:|---:|---:|---|"]
    for r in rows:
        if r["protocol"] != "grpc-clients" or r["concurrency"] not in pa:
            continue
        a, b = pa[r["concurrency"]]["rps"], r["rps"]
        ratio = b / a if a and b else None
        ok = "–" if ratio is None else ("yes" if abs(ratio - 1) <= 0.10 else "**no**")
        out.append(f"| {r['concurrency']} | {_fmt(a, 0)} | {_fmt(b, 0)} | "
                   f"{_fmt(ratio, 2)} | {ok} |")
    return out


@dataclass
class Session:
    """Everything one benchmark run drives: servers, request bodies, plan."""

    servers: dict[str, Any]
    body: bytes  # the REST body (TF Serving V1 JSON, one client-resized image)
    shape: str  # perf_analyzer's tfserving --shape (with the batch dimension)
    frames: dict[str, bytes] = field(default_factory=dict)  # h2load gRPC frame per server
    answer_bytes: dict[str, int] = field(default_factory=dict)
    images: Path | None = None  # clients bench --data
    plan: list[tuple[str, str]] = field(default_factory=list)


def prepare(servers: dict[str, Any], body: bytes, images: Path, clients: bool) -> Session:
    """The per-server gRPC frames (checked by one probe call each) and the plan."""
    import numpy as np

    size = json.loads(body)["instances"][0]
    s = Session(servers, body, f"image:1,{len(size)},{len(size[0])},3", images=images)
    tensor = np.random.default_rng(0).random((1, len(size), len(size[0]), 3),
                                             dtype=np.float32)
    s.frames[OURS] = grpc_frame(tfserving_predict_message("m", "serving_default", "image",
                                                          tensor))
    peers = [n for n in servers if n != OURS]
    if peers:
        v2 = grpc_frame(v2_infer_message("m", "image", tensor))
        s.frames.update({n: v2 for n in peers})
    for name, frame in s.frames.items():
        path = PREDICT_PATH if name == OURS else V2_INFER_PATH
        s.answer_bytes[name] = h2load_response_bytes(servers[name].grpc_target, path, frame)
        if s.answer_bytes[name] <= 5:
            raise SystemExit(f"error: {name} did not answer the gRPC probe request")
    s.plan = [("rest", OURS)] + [("rest", "kserve")] * ("kserve" in servers)
    s.plan += [("grpc", n) for n in (OURS, "pytriton") if n in servers]
    s.plan += [("grpc-h2load", n) for n in servers]
    if clients:
        s.plan.append(("grpc-clients", OURS))
    return s


def point(s: Session, protocol: str, name: str, c: int, seconds: float) -> dict[str, Any]:
    """One load point of one generator on one server."""
    srv = s.servers[name]
    if protocol == "rest":
        return wrk_point(srv.rest_url + "/v1/models/m:predict", s.body, c, seconds)
    if protocol == "grpc-h2load":
        path = PREDICT_PATH if name == OURS else V2_INFER_PATH
        return h2load_point(srv.grpc_target, path, s.frames[name], c, seconds,
                            s.answer_bytes[name])
    if protocol == "grpc-clients":
        return clients_bench_point(srv.grpc_target, c, seconds, s.images)
    if name == OURS:
        return perf_analyzer_point("tfserving", srv.grpc_target, "m", c, seconds, s.shape,
                                   "serving_default")
    return perf_analyzer_point("triton", srv.grpc_target, "m", c, seconds,
                               s.shape.replace(":1,", ":"))


def measure(s: Session, levels: list[int], rounds: int, seconds: float) -> list[dict[str, Any]]:
    """A discarded warm-up point per (generator, server), then the interleaved rounds."""
    warm = [(-1, 4, item) for item in s.plan]
    timed = [(rnd, c, item) for rnd in range(rounds) for c in levels
             for item in (s.plan if rnd % 2 == 0 else s.plan[::-1])]
    points = []
    for rnd, c, (protocol, name) in warm + timed:
        row = point(s, protocol, name, c, seconds if rnd >= 0 else min(2.0, seconds))
        row.update(protocol=protocol, server=name, concurrency=c, round=rnd)
        if rnd >= 0:
            points.append(row)
        log.info("round %d %s %s c=%d: %.0f req/s p50 %s ms %s", rnd, protocol, name, c,
                 row["rps"], _fmt(row["p50_ms"], 2), row["note"])
    return points


def header(argv: list[str], wall: float, load0: float, rounds: int, seconds: float,
           commands: dict[str, str], shape: str) -> list[str]:
    """Title, command, machine, servers and generator commands."""
    return [
        "**Peers: ours, KServe, PyTriton, MLServer on the same ONNX model**", "",
        f"Command: `{shlex.join(['python', *argv])}`", "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} in {wall:.0f} s on a "
        f"**shared** {os.cpu_count()}-CPU machine (load average {load0:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after; other engineers' jobs ran meanwhile: compare the "
        f"ratios, not the absolute numbers); Python {platform.python_version()}; "
        f"{rounds} interleaved rounds of {seconds:g} s points, median over rounds.",
        "", "Servers (WORKDIR is a temporary directory):", "",
        *[f"    {n}: {c}" for n, c in commands.items()], "",
        "Generators: `wrk -t1 -cC -dSs --latency -s post.lua URL/v1/models/m:predict` (the body "
        "is one client-resized CIFAR image as TF Serving V1 JSON); for gRPC", "",
        f"    {command_text('tfserving', 'm', shape, 'serving_default')}   # ours",
        f"    {command_text('triton', 'm', shape.replace(':1,', ':'), None)}   # PyTriton",
        "", "(KServe's and MLServer's V2 gRPC lack the ModelConfig RPC perf_analyzer requires, "
        "so all four servers are also driven by `h2load -c C -m 1 -t 1 -D S -d req.bin -H "
        "'content-type: application/grpc' -H 'te: trailers' URL/SERVICE/METHOD` with one "
        "pre-encoded request: TF Serving `PredictRequest` for ours, V2 `ModelInferRequest` "
        "with `raw_input_contents` for the peers; same random 1×128×128×3 float tensor; "
        "answers without a message count as errors),",
        "", "and `clients bench --grpc 127.0.0.1:PORT --protocol grpc --mode client-resize "
        "--concurrency C` on ours."]


def parse_args() -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", type=Path, help="trainer run dir or exported version dir")
    p.add_argument("--data", type=Path,
                   default=Path("../shared/data/cifar10/lossless_train2000.npz"))
    p.add_argument("--peers", default=",".join(REQUIREMENTS))
    p.add_argument("--concurrency", default="1,4,16")
    p.add_argument("--seconds", type=float, default=6.0, help="per point")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--no-clients-bench", action="store_true")
    p.add_argument("--out", type=Path, default=Path("bench/results/peers.md"))
    p.add_argument("--json", type=Path, default=Path("bench/results/peers.json"))
    return p.parse_args()


def main() -> None:
    """Parse arguments, start every server, run the interleaved rounds, write the report."""
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    peers = [s.strip() for s in args.peers.split(",") if s.strip()]
    unknown = [s for s in peers if s not in REQUIREMENTS]
    if unknown:
        raise SystemExit(f"error: unknown peer(s) {', '.join(unknown)}; "
                         f"known: {', '.join(REQUIREMENTS)}")
    try:
        levels = [int(v) for v in args.concurrency.split(",")]
    except ValueError:
        raise SystemExit(f"error: --concurrency takes integers like 1,4,16, not "
                         f"{args.concurrency!r}") from None
    if not args.data.is_file():
        raise SystemExit(f"error: {args.data} not found (images for the REST body)")
    check_tools()
    started, load0 = time.perf_counter(), os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="peers-bench-"))
    try:
        version_dir, base, _ = serve_base(args.source, workdir)
        onnx = (version_dir / "model.onnx").resolve()
        if not onnx.is_file():
            raise SystemExit(f"error: {version_dir} has no model.onnx (export with --formats "
                             "onnx)")
        batching = BatchingConfig(max_batch_size=16, batch_timeout_micros=0,
                                  num_batch_threads=2)
        with ExitStack() as stack:
            ours = stack.enter_context(ServerProcess(
                "serving", serving_command(base, "onnx", workdir, batching),
                workdir / "ours.log"))
            wl = Workloads(ours, load_items(args.data, 8), 30.0)
            body = wl.payloads("rest", "client-resize", 1).bodies[0]
            wl.close()
            servers: dict[str, Any] = {OURS: ours}
            for name in peers:
                log.info("starting %s", name)
                servers[name] = stack.enter_context(PeerProcess(name, onnx, workdir))
            session = prepare(servers, body, image_npz(args.data, workdir),
                              not args.no_clients_bench)
            points = measure(session, levels, args.rounds, args.seconds)
            commands = {OURS: ours.display.replace(str(workdir), "WORKDIR")}
            commands.update({n: servers[n].command for n in peers})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = summarize(points)
    text = render(header(sys.argv, time.perf_counter() - started, load0, args.rounds,
                         args.seconds, commands, session.shape), rows)
    if not args.no_clients_bench:
        text += "\n".join(agreement(rows)) + "\n"
    write_outputs([(args.out, text),
                   (args.json, json.dumps({"rows": rows, "points": points}, indent=1))])
    print(text)


if __name__ == "__main__":
    main()
