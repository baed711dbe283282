"""``clients bench``: sweep closed-loop concurrencies and open-loop rates, one point each.

Each point: warm up for ``warmup`` s (discarded), then measure in windows of ``window`` s
until the last 3 windows agree within ``stability`` on throughput and mean latency
(perf_analyzer's rule) or ``duration`` s have passed (the point is then reported as
unstable). The reported numbers merge the last 3 windows.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from clients.base import PredictClient
from clients.bench_loop import Recorder, closed_loop, open_loop
from clients.bench_stats import WindowStats, is_stable, summarize
from clients.bench_targets import GrpcTarget, Payloads, RestTarget, check_samples

__all__ = ["BenchConfig", "PointResult", "measure", "run_point", "run_sweep"]

log = logging.getLogger(__name__)


@dataclass
class BenchConfig:
    """Timing and load settings shared by every point of a sweep."""

    concurrency: list[int] = field(default_factory=lambda: [1])
    rates: list[float] = field(default_factory=list)
    warmup: float = 2.0
    duration: float = 20.0
    window: float = 2.0
    stability: float = 0.10
    timeout: float = 30.0
    max_connections: int = 256


@dataclass
class PointResult:
    """One sweep point. Latencies in milliseconds; bytes per request."""

    protocol: str
    mode: str
    batch_size: int
    load: str  # "closed" or "open"
    concurrency: int | None
    rate: float | None
    stable: bool
    windows: int
    seconds: float
    requests_ok: int
    throughput: float
    images_per_s: float
    latency_ms: dict[str, float]
    mean_ms: float
    errors: dict[str, int]
    request_bytes: float
    response_bytes: float
    checked: int
    mismatched: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (NaN becomes None)."""
        out = asdict(self)
        out["latency_ms"] = {k: (None if math.isnan(v) else v)
                             for k, v in self.latency_ms.items()}
        out["mean_ms"] = None if math.isnan(self.mean_ms) else self.mean_ms
        return out


def _loop_factory(protocol: str):  # uvloop for the raw HTTP generator, asyncio for grpc.aio
    if protocol == "rest":
        try:
            import uvloop

            return uvloop.new_event_loop
        except ImportError:
            pass
    return None


async def measure(target: Any, concurrency: int | None, rate: float | None,
                  cfg: BenchConfig) -> tuple[list[WindowStats], bool, Recorder]:
    """Drive ``target`` (warmup, then windows until stable or out of time); returns the
    windows, whether the point stabilised, and the recorder (with sampled answers)."""
    rec, stop = Recorder(), asyncio.Event()
    if rate is not None:
        driver = asyncio.ensure_future(open_loop(target, rate, rec, stop, cfg.max_connections))
    else:
        driver = asyncio.ensure_future(closed_loop(target, concurrency or 1, rec, stop))
    done, _ = await asyncio.wait({driver}, timeout=cfg.warmup)
    if done:
        driver.result()  # a driver that died in warmup raises here
    rec.start()
    start = time.perf_counter()
    windows: list[WindowStats] = []
    stable = False
    for k in range(max(3, int(round(cfg.duration / cfg.window)))):
        await asyncio.sleep(max(0.0, start + (k + 1) * cfg.window - time.perf_counter()))
        windows.append(rec.cut())
        if is_stable(windows, 3, cfg.stability):
            stable = True
            break
    stop.set()
    try:
        await asyncio.wait_for(driver, timeout=cfg.timeout + 5)
    except TimeoutError:
        log.warning("in-flight requests did not finish within %.0fs", cfg.timeout + 5)
    await target.close()
    return windows, stable, rec


def run_point(protocol: str, client: PredictClient, payloads: Payloads, mode: str,
              cfg: BenchConfig, concurrency: int | None = None,
              rate: float | None = None) -> PointResult:
    """Measure one closed-loop (``concurrency``) or open-loop (``rate``) point."""
    if protocol == "rest":
        target: Any = RestTarget(client.base_url, client.predict_path,  # type: ignore[attr-defined]
                                 payloads.bodies, cfg.timeout,
                                 ssl_context=getattr(client, "ssl_context", None))
    else:
        target = GrpcTarget(client.target, client.predict_method,  # type: ignore[attr-defined]
                            payloads.bodies, cfg.timeout,
                            credentials=getattr(client, "credentials", None))
    with asyncio.Runner(loop_factory=_loop_factory(protocol)) as runner:
        windows, stable, rec = runner.run(measure(target, concurrency, rate, cfg))
    merged = summarize(windows[-3:])
    checked, bad = check_samples(client, payloads, rec.samples)
    total = merged.ok + sum(merged.errors.values())
    if not stable:
        log.warning("%s point %s did not stabilise within %d windows", protocol,
                    f"c={concurrency}" if rate is None else f"r={rate}", len(windows))
    return PointResult(
        protocol=protocol, mode=mode, batch_size=payloads.batch_size,
        load="open" if rate is not None else "closed", concurrency=concurrency, rate=rate,
        stable=stable, windows=len(windows), seconds=merged.seconds, requests_ok=merged.ok,
        throughput=merged.throughput, images_per_s=merged.throughput * payloads.batch_size,
        latency_ms={k: v * 1000 for k, v in merged.percentiles().items()},
        mean_ms=merged.mean_latency * 1000, errors=dict(merged.errors),
        request_bytes=merged.request_bytes / total if total else 0.0,
        response_bytes=merged.response_bytes / total if total else 0.0,
        checked=checked, mismatched=bad)


def run_sweep(protocol: str, client: PredictClient, payloads: Payloads, mode: str,
              cfg: BenchConfig) -> list[PointResult]:
    """Every closed-loop concurrency, then every open-loop rate."""
    points = [run_point(protocol, client, payloads, mode, cfg, concurrency=c)
              for c in cfg.concurrency]
    return points + [run_point(protocol, client, payloads, mode, cfg, rate=r)
                     for r in cfg.rates]
