"""The bare model call: a serving backend's in-process ``predict``, no server, no wire.

``load_backend`` loads a version directory with the same backend class ``serving serve``
uses for ``--model_platform``; ``bare_latency`` calls one signature on batch-1 tensors back to
back; ``bare_throughput`` calls it on one batch from ``threads`` threads at once (the server's
inference pool has one thread per core, so the best of 1 and ``cpu_count`` threads is the
fair "bare batched throughput").
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

__all__ = ["load_backend", "bare_latency", "bare_throughput", "best_bare_throughput"]


def load_backend(platform: str, version_dir: Path, intra_op: int = 0) -> Any:
    """A loaded ``serving.backends`` backend (imports the runtime lazily); ``intra_op``
    threads per call (0: the backend's default, as ``serving serve`` without the flag)."""
    from serving.backends import create_backend
    from serving.cpu_threads import RuntimeThreads

    backend = create_backend(platform, RuntimeThreads(intra_op=intra_op))
    backend.load(version_dir)
    return backend


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = np.sort(np.asarray(samples)) * 1000.0
    n = len(ordered)
    out = {}
    for p in (50.0, 90.0, 99.0):
        out[f"p{p:g}"] = float(ordered[max(1, int(np.ceil(p / 100 * n))) - 1])
    out["mean"] = float(ordered.mean())
    return out


def bare_latency(backend: Any, signature: str, alias: str, tensors: list[np.ndarray],
                 seconds: float = 3.0, warmup: float = 0.5) -> dict[str, Any]:
    """Latency (ms percentiles) of back-to-back calls on ``tensors`` (round-robin)."""
    end = time.perf_counter() + warmup
    i = 0
    while time.perf_counter() < end:
        backend.predict(signature, {alias: tensors[i % len(tensors)]})
        i += 1
    lat: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(lat) < 20:
        t0 = time.perf_counter()
        backend.predict(signature, {alias: tensors[len(lat) % len(tensors)]})
        lat.append(time.perf_counter() - t0)
    return {"signature": signature, "batch_size": int(len(tensors[0])), "calls": len(lat),
            "latency_ms": _percentiles(lat)}


def bare_throughput(backend: Any, signature: str, alias: str, batch: np.ndarray,
                    threads: int = 1, seconds: float = 3.0,
                    warmup: float = 0.5) -> dict[str, Any]:
    """Images/s of ``threads`` threads calling ``predict`` on ``batch`` back to back."""
    counts = [0] * threads
    phase = {"measure_from": 0.0, "stop_at": 0.0}
    barrier = threading.Barrier(threads + 1)

    def worker(k: int) -> None:
        barrier.wait()
        while True:
            now = time.perf_counter()
            if now >= phase["stop_at"]:
                return
            backend.predict(signature, {alias: batch})
            done = time.perf_counter()  # count completions inside the window: unbiased
            if phase["measure_from"] <= done <= phase["stop_at"]:
                counts[k] += 1

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    busy0, own0, wall0 = _busy(), time.process_time(), time.perf_counter()
    for t in pool:
        t.start()
    now = time.perf_counter()
    phase["measure_from"] = now + warmup
    phase["stop_at"] = now + warmup + seconds
    barrier.wait()
    for t in pool:
        t.join()
    wall = time.perf_counter() - wall0
    own = (time.process_time() - own0) / wall
    calls = sum(counts)
    return {"signature": signature, "batch_size": int(len(batch)), "threads": threads,
            "calls": calls, "seconds": seconds, "images_per_s": calls * len(batch) / seconds,
            "cpu_cores": own, "others_cpu_cores": max(0.0, (_busy() - busy0) / wall - own)}


def _busy() -> float:
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def best_bare_throughput(backend: Any, signature: str, alias: str, batch: np.ndarray,
                         seconds: float = 3.0) -> dict[str, Any]:
    """The better of 1 thread and ``cpu_count`` threads (both results kept)."""
    cores = os.cpu_count() or 1
    runs = [bare_throughput(backend, signature, alias, batch, 1, seconds)]
    if cores > 1:
        runs.append(bare_throughput(backend, signature, alias, batch, cores, seconds))
    best = max(runs, key=lambda r: r["images_per_s"])
    return {**best, "all": runs}
