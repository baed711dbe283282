"""Latency statistics for ``clients bench``: exact samples, windows, stability.

Latencies are kept as exact samples (``array('d')``, 8 bytes each) rather than in an
HDR-style histogram: at the rates this machine reaches (<= ~30k req/s, points of <= a minute)
that is at most tens of MB, percentiles have no bucket error, and windows merge by
concatenation. Percentiles use the nearest-rank definition (the value at rank ceil(p*n)),
as HdrHistogram and wrk report them.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

__all__ = ["PERCENTILES", "WindowStats", "summarize", "is_stable", "percentile"]

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


def percentile(sorted_values: np.ndarray, p: float) -> float:
    """Nearest-rank percentile of already sorted values (``nan`` when empty)."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    rank = max(1, math.ceil(p / 100.0 * n))
    return float(sorted_values[rank - 1])


@dataclass
class WindowStats:
    """One measurement window (or several merged): counts, rates, latency percentiles (s)."""

    seconds: float
    ok: int
    errors: Counter[str] = field(default_factory=Counter)
    request_bytes: int = 0
    response_bytes: int = 0
    latencies: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def mean_latency(self) -> float:
        """Mean latency of successful requests (s)."""
        return float(self.latencies.mean()) if len(self.latencies) else math.nan

    def percentiles(self) -> dict[str, float]:
        """``{"p50": s, ..., "p99.9": s, "max": s}``."""
        ordered = np.sort(self.latencies)
        out = {f"p{p:g}": percentile(ordered, p) for p in PERCENTILES}
        out["max"] = float(ordered[-1]) if len(ordered) else math.nan
        return out


def summarize(windows: list[WindowStats]) -> WindowStats:
    """Merge windows into one (durations add, samples concatenate)."""
    errors: Counter[str] = Counter()
    for w in windows:
        errors.update(w.errors)
    lat = [w.latencies for w in windows]
    return WindowStats(
        seconds=sum(w.seconds for w in windows), ok=sum(w.ok for w in windows),
        errors=errors, request_bytes=sum(w.request_bytes for w in windows),
        response_bytes=sum(w.response_bytes for w in windows),
        latencies=np.concatenate(lat) if lat else np.empty(0))


def _agree(values: list[float], tolerance: float) -> bool:
    if any(math.isnan(v) for v in values):
        return False
    mean = sum(values) / len(values)
    if mean == 0:
        return all(v == 0 for v in values)
    return all(abs(v - mean) <= tolerance * mean for v in values)


def is_stable(windows: list[WindowStats], count: int = 3, tolerance: float = 0.10) -> bool:
    """perf_analyzer's rule: the last ``count`` windows' throughput and mean latency are each
    within ``tolerance`` of their average."""
    if len(windows) < count:
        return False
    last = windows[-count:]
    if any(w.ok == 0 for w in last):
        return False
    return (_agree([w.throughput for w in last], tolerance)
            and _agree([w.mean_latency for w in last], tolerance))
