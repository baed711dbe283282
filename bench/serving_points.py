"""One measured point of the serving benchmark, driven by the ``clients bench`` engine.

``Workloads`` builds the requests once per server (protocol x mode x batch size, with the
library clients' own encoders: exactly the bytes ``clients predict`` sends). ``run_point``
drives one closed-loop concurrency with ``clients.bench_run.measure`` (warmup, windows until
stable or out of time), checks sampled answers, and adds what the engine does not know: the
CPU the server process, this (load-generator) process and every other process on the machine
(other users' jobs: the noise) used, and, from the server's
Prometheus page, the mean merged batch size, server-side request time and model run time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psutil
from serving_servers import ServerProcess, metric_sum_count, scrape_metrics

from clients.bench_run import BenchConfig, measure
from clients.bench_stats import summarize
from clients.bench_targets import GrpcTarget, Payloads, RestTarget, build_payloads, check_samples
from clients.connect import make_client
from clients.prepare import ImageItem, Mode

__all__ = ["Workloads", "run_point", "busy_cpu_seconds"]

ENTRY = {"rest": "REST", "grpc": "GRPC"}


class Workloads:
    """Clients and pre-encoded requests for one ``serving serve`` process."""

    def __init__(self, server: ServerProcess, items: list[ImageItem], timeout: float) -> None:
        self.server, self.items, self.timeout = server, items, timeout
        self._clients: dict[str, Any] = {}
        self._payloads: dict[tuple[str, str, int], Payloads] = {}

    def client(self, protocol: str) -> Any:
        """The library client for ``protocol`` (one per server)."""
        if protocol not in self._clients:
            address = ({"server": self.server.rest_url} if protocol == "rest"
                       else {"grpc": self.server.grpc_target})
            self._clients[protocol] = make_client("m", timeout=self.timeout, **address)
        return self._clients[protocol]

    def payloads(self, protocol: str, mode: str, batch: int) -> Payloads:
        """Up to 8 distinct encoded batches of ``batch`` images (built on first use)."""
        key = (protocol, mode, batch)
        if key not in self._payloads:
            self._payloads[key] = build_payloads(self.client(protocol), self.items, Mode(mode),
                                                 batch)
        return self._payloads[key]

    def close(self) -> None:
        """Close the clients."""
        for client in self._clients.values():
            client.close()


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all processes, all cores)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def _loop_factory(protocol: str) -> Any:
    if protocol == "rest":
        import uvloop

        return uvloop.new_event_loop
    return None


def _server_stats(server: ServerProcess) -> dict[str, tuple[float, float]]:
    page = scrape_metrics(server.rest_url)
    return {"batch": metric_sum_count(page, ":tensorflow:serving:batching:processed_batch_size"),
            "runtime": metric_sum_count(page, ":tensorflow:serving:runtime_latency"),
            "request_REST": metric_sum_count(page, ":tensorflow:serving:request_latency",
                                             entrypoint="REST"),
            "request_GRPC": metric_sum_count(page, ":tensorflow:serving:request_latency",
                                             entrypoint="GRPC")}


def _mean_delta(after: tuple[float, float], before: tuple[float, float]) -> float | None:
    count = after[1] - before[1]
    return (after[0] - before[0]) / count if count > 0 else None


def run_point(server: ServerProcess, protocol: str, mode: str, payloads: Payloads,
              decoder: Any, concurrency: int, cfg: BenchConfig, *,
              rest_url: str | None = None, label: str = "") -> dict[str, Any]:
    """Drive one closed-loop point; returns throughput, latency, CPU and server-side means.

    ``rest_url`` sends the same REST requests to another server (the naive baseline);
    ``decoder`` is the library client whose ``decode_predict`` checks sampled answers.
    """
    if protocol == "rest":
        target: Any = RestTarget(rest_url or server.rest_url, decoder.predict_path,
                                 payloads.bodies, cfg.timeout)
    else:
        target = GrpcTarget(server.grpc_target, decoder.predict_method, payloads.bodies,
                            cfg.timeout)
    ours = server.kind == "serving"
    before = _server_stats(server) if ours else None
    srv0, gen0, wall0 = server.cpu_seconds(), time.process_time(), time.perf_counter()
    busy0 = busy_cpu_seconds()
    with asyncio.Runner(loop_factory=_loop_factory(protocol)) as runner:
        windows, stable, rec = runner.run(measure(target, concurrency, None, cfg))
    wall = time.perf_counter() - wall0
    server_cpu = (server.cpu_seconds() - srv0) / wall
    gen_cpu = (time.process_time() - gen0) / wall
    others_cpu = max(0.0, (busy_cpu_seconds() - busy0) / wall - server_cpu - gen_cpu)
    merged = summarize(windows[-3:])
    checked, bad = check_samples(decoder, payloads, rec.samples)
    total = merged.ok + sum(merged.errors.values())
    pct = {k: v * 1000 for k, v in merged.percentiles().items()}
    out: dict[str, Any] = {
        "label": label, "server": server.kind, "protocol": protocol, "mode": mode,
        "signature": payloads.signature, "batch_size": payloads.batch_size,
        "concurrency": concurrency, "stable": stable, "windows": len(windows),
        "seconds": merged.seconds, "requests": merged.ok,
        "req_per_s": merged.throughput, "images_per_s": merged.throughput * payloads.batch_size,
        "latency_ms": pct, "mean_ms": merged.mean_latency * 1000,
        "errors": dict(merged.errors),
        "request_bytes": merged.request_bytes / total if total else 0.0,
        "response_bytes": merged.response_bytes / total if total else 0.0,
        "checked": checked, "mismatched": bad,
        "server_cpu_cores": server_cpu, "generator_cpu_cores": gen_cpu,
        "others_cpu_cores": others_cpu,
    }
    if before is not None:
        after = _server_stats(server)
        entry = f"request_{ENTRY[protocol]}"
        out["server_mean_batch"] = _mean_delta(after["batch"], before["batch"])
        runtime = _mean_delta(after["runtime"], before["runtime"])
        request = _mean_delta(after[entry], before[entry])
        out["server_runtime_ms"] = None if runtime is None else runtime / 1000
        out["server_request_ms"] = None if request is None else request / 1000
    return out
