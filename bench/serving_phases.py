"""The measurement phases of the serving benchmark (one function per section of the report).

``backend_phase`` serves one backend with batching on, measures the bare calls in-process
while the server idles, then the served points (throughput sweep and repeats over gRPC,
concurrency-1 latency per protocol and mode), and, with ``extras``, the naive baseline and the
``wrk`` agreement against the same server; then it serves the backend with batching off.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving_bare import bare_latency, bare_throughput, best_bare_throughput, load_backend
from serving_points import Workloads, run_point
from serving_servers import BatchingConfig, ServerProcess, naive_command, serving_command

from clients.bench_run import BenchConfig
from clients.prepare import ImageItem

__all__ = ["Settings", "backend_phase", "naive_phase", "wrk_phase", "ceiling_phase", "spread"]

log = logging.getLogger("serving_bench")
BATCH = 16  # the batched size: max_batch_size of the server and the bare batch
# (request batch, concurrency), gRPC serve_raw
THROUGHPUT_LOADS = ((1, 16), (1, 32), (BATCH, 2), (BATCH, 4), (BATCH, 8))
MODES = ("server-resize", "client-resize", "encoded")


@dataclass
class Settings:
    """What every phase needs: timing, repeats, images, where servers log."""

    cfg: BenchConfig
    bare_seconds: float
    repeats: int
    items: list[ImageItem]
    workdir: Path
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    commands: list[str] = field(default_factory=list)


def spread(values: list[float]) -> dict[str, float]:
    """Median, min and max of repeated measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "values": values}


def _server(kind: str, args: list[str], s: Settings) -> ServerProcess:
    server = ServerProcess(kind, args, s.workdir / f"{kind}.log")
    s.commands.append(server.display)
    return server


def _bare(platform: str, version_dir: Path, wl: Workloads, s: Settings) -> dict[str, Any]:
    backend = load_backend(platform, version_dir)
    raw1 = wl.payloads("grpc", "server-resize", 1).tensors
    cr1 = wl.payloads("rest", "client-resize", 1).tensors
    out = {"latency": {"serve_raw": bare_latency(backend, "serve_raw", "image", raw1,
                                                 s.bare_seconds),
                       "serving_default": bare_latency(backend, "serving_default", "image", cr1,
                                                       s.bare_seconds)},
           "throughput": {}}
    for sig, mode in (("serve_raw", "server-resize"), ("serving_default", "client-resize")):
        batch = wl.payloads("grpc", mode, BATCH).tensors[0]
        out["throughput"][sig] = best_bare_throughput(backend, sig, "image", batch,
                                                      s.bare_seconds)
    out["backend"] = backend
    return out


def _throughput(platform: str, server: ServerProcess, wl: Workloads, bare: dict,
                s: Settings) -> dict[str, Any]:
    """Sweep the gRPC serve_raw loads, then repeat (bare, served) at the best one."""
    sweep = []
    for batch, conc in THROUGHPUT_LOADS:
        p = wl.payloads("grpc", "server-resize", batch)
        sweep.append(run_point(server, "grpc", "server-resize", p, wl.client("grpc"), conc,
                               s.cfg, label=f"{platform} sweep"))
    best = max(sweep, key=lambda r: r["images_per_s"])
    best_b1 = max((r for r in sweep if r["batch_size"] == 1), key=lambda r: r["images_per_s"])
    threads = bare["throughput"]["serve_raw"]["threads"]
    batch16 = wl.payloads("grpc", "server-resize", BATCH).tensors[0]
    repeats, bares, ratios, bare_runs = [], [], [], []
    for _ in range(s.repeats):
        bare_runs.append(bare_throughput(bare["backend"], "serve_raw", "image", batch16,
                                         threads, s.bare_seconds))
        b = bare_runs[-1]["images_per_s"]
        p = wl.payloads("grpc", "server-resize", best["batch_size"])
        r = run_point(server, "grpc", "server-resize", p, wl.client("grpc"),
                      best["concurrency"], s.cfg, label=f"{platform} repeat")
        repeats.append(r)
        bares.append(b)
        ratios.append(r["images_per_s"] / b)
    cr = run_point(server, "grpc", "client-resize", wl.payloads("grpc", "client-resize", BATCH),
                   wl.client("grpc"), 4, s.cfg, label=f"{platform} client-resize")
    return {"sweep": sweep, "best": {"batch_size": best["batch_size"],
                                     "concurrency": best["concurrency"]},
            "best_b1_concurrency": best_b1["concurrency"], "repeats": repeats,
            "served": spread([r["images_per_s"] for r in repeats]), "bare": spread(bares),
            "ratio": spread(ratios), "bare_runs": bare_runs, "client_resize": cr,
            "client_resize_ratio": cr["images_per_s"]
            / bare["throughput"]["serving_default"]["images_per_s"]}


def _latency(platform: str, server: ServerProcess, wl: Workloads, s: Settings,
             full: bool) -> list[dict[str, Any]]:
    """Concurrency-1, batch-1 points: every mode x protocol when ``full``, else the targets."""
    combos = ([(proto, mode) for mode in MODES for proto in ("grpc", "rest")] if full else
              [("grpc", "server-resize"), ("rest", "server-resize"), ("rest", "client-resize")])
    return [run_point(server, proto, mode, wl.payloads(proto, mode, 1), wl.client(proto), 1,
                      s.cfg, label=f"{platform} c=1") for proto, mode in combos]


def backend_phase(platform: str, version_dir: Path, base_path: Path, s: Settings,
                  extras: bool) -> dict[str, Any]:
    """Everything measured for one backend (plus naive and wrk when ``extras``)."""
    out: dict[str, Any] = {"platform": platform}
    args = serving_command(base_path, platform, s.workdir, s.batching)
    with _server("serving", args, s) as server:
        log.info("%s: serving (batching on) after %.1fs", platform, server.startup_s)
        out["startup_s"] = server.startup_s
        wl = Workloads(server, s.items, s.cfg.timeout)
        try:
            bare = _bare(platform, version_dir, wl, s)
            out["throughput"] = _throughput(platform, server, wl, bare, s)
            out["latency"] = _latency(platform, server, wl, s, full=extras)
            if extras:
                out["naive"] = naive_phase(version_dir, server, wl, s)
                out["modes_c8"] = [run_point(server, proto, mode, wl.payloads(proto, mode, 1),
                                             wl.client(proto), 8, s.cfg, label="modes c=8")
                                   for mode in MODES for proto in ("grpc", "rest")
                                   if (proto, mode) != ("rest", "client-resize")]
                out["modes_c8"].append(out["naive"]["ours"][-1])  # REST client-resize c=8
                out["wrk"] = wrk_phase(server, wl, s)
        finally:
            wl.close()
        bare.pop("backend").unload()
        out["bare"] = bare
    best = out["throughput"]["best"]
    off_args = serving_command(base_path, platform, s.workdir, None)
    with _server("serving", off_args, s) as server:
        wl = Workloads(server, s.items, s.cfg.timeout)
        try:
            loads = [(best["batch_size"], best["concurrency"]),
                     (1, out["throughput"]["best_b1_concurrency"]), (1, 1)]
            out["batching_off"] = [
                run_point(server, "grpc", "server-resize",
                          wl.payloads("grpc", "server-resize", b), wl.client("grpc"), c, s.cfg,
                          label=f"{platform} batching off") for b, c in dict.fromkeys(loads)]
        finally:
            wl.close()
    return out


def naive_phase(version_dir: Path, ours: ServerProcess, wl: Workloads,
                s: Settings) -> dict[str, Any]:
    """Flask + TF vs ours on the same client-resized REST requests: c=8 (repeated), c=1."""
    payloads = wl.payloads("rest", "client-resize", 1)
    client = wl.client("rest")
    ours_runs, naive_runs = [], []
    with _server("naive", naive_command(version_dir), s) as naive:
        url = naive.rest_url
        naive_c1 = run_point(naive, "rest", "client-resize", payloads, client, 1, s.cfg,
                             rest_url=url, label="naive c=1")
        for _ in range(s.repeats):
            naive_runs.append(run_point(naive, "rest", "client-resize", payloads, client, 8,
                                        s.cfg, rest_url=url, label="naive c=8"))
            ours_runs.append(run_point(ours, "rest", "client-resize", payloads, client, 8,
                                       s.cfg, label="ours c=8"))
    ratios = [o["req_per_s"] / n["req_per_s"] for o, n in zip(ours_runs, naive_runs,
                                                              strict=True)]
    return {"naive_c1": naive_c1, "naive": naive_runs, "ours": ours_runs,
            "ratio": spread(ratios),
            "naive_req_per_s": spread([n["req_per_s"] for n in naive_runs]),
            "ours_req_per_s": spread([o["req_per_s"] for o in ours_runs])}


def wrk_phase(server: ServerProcess, wl: Workloads, s: Settings) -> list[dict[str, Any]]:
    """``clients bench`` engine vs ``wrk`` on our REST serve_raw endpoint, alternating order."""
    from clients_ceiling import engine_point, wrk_point

    client = wl.client("rest")
    body = wl.payloads("rest", "server-resize", 1).bodies[0]
    seconds = max(3.0, float(int(s.cfg.window * 1.7)))
    rows = []
    for conc in (1, 8):
        for first in ("engine", "wrk"):
            pair = {}
            for tool in (first, "wrk" if first == "engine" else "engine"):
                if tool == "engine":
                    pair[tool] = engine_point(server.rest_url, client.predict_path, body, conc,
                                              seconds)
                else:
                    pair[tool] = wrk_point(server.rest_url, client.predict_path, body, conc,
                                           seconds)
            rows.append({"concurrency": conc, "order": first, **pair})
    return rows


def ceiling_phase(seconds: float) -> list[dict[str, Any]]:
    """The generator against the trivial endpoint (bench/clients_ceiling.py), with wrk."""
    from clients_ceiling import TRIVIAL_BODY, engine_point, start_server, wrk_point

    proc, port = start_server()
    url, path = f"http://127.0.0.1:{port}", "/v1/models/m:predict"
    try:
        rows = []
        for conc in (1, 16):
            rows.append(engine_point(url, path, TRIVIAL_BODY, conc, seconds))
            row = wrk_point(url, path, TRIVIAL_BODY, conc, seconds)
            if row:
                rows.append(row)
        return rows
    finally:
        proc.terminate()
        proc.wait(5)
