"""Counters and histograms with TF Serving's metric names, rendered in Prometheus text format.

Names are TF monitoring names with ``/`` replaced by ``:`` (``/tensorflow/serving/request_count``
-> ``:tensorflow:serving:request_count``), as TF Serving's Prometheus exporter prints them.
Thread-safe: requests record from the event loop and from inference threads.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence

__all__ = [
    "Counter",
    "Histogram",
    "Registry",
    "exponential_buckets",
    "ServingMetrics",
    "UNHANDLED_EXCEPTIONS",
]


def exponential_buckets(start: float, factor: float, count: int) -> list[float]:
    """``monitoring::Buckets::Exponential(start, factor, count)`` upper bounds."""
    return [start * factor**i for i in range(count)]


def _number(value: float) -> str:
    """A number as ``absl::StrCat`` prints a double (six significant digits)."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:.6g}"


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{v}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class Counter:
    """A monotonically increasing integer per label combination."""

    kind = "counter"

    def __init__(self, name: str, labels: Sequence[str] = ()) -> None:
        self.name, self.label_names = name, tuple(labels)
        self._values: dict[tuple[str, ...], int] = {}
        self._lock = threading.Lock()

    def inc(self, *labels: str, by: int = 1) -> None:
        """Add ``by`` for one label combination."""
        with self._lock:
            self._values[labels] = self._values.get(labels, 0) + by

    def value(self, *labels: str) -> int:
        """The current count for one label combination (0 if never incremented)."""
        return self._values.get(labels, 0)

    def total(self) -> int:
        """The count summed over every label combination."""
        with self._lock:
            return sum(self._values.values())

    def lines(self) -> list[str]:
        """Sample lines, sorted by labels."""
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {v}" for k, v in items]


class Histogram:
    """Cumulative buckets, sum and count per label combination."""

    kind = "histogram"

    def __init__(self, name: str, labels: Sequence[str], bounds: Sequence[float]) -> None:
        self.name, self.label_names, self.bounds = name, tuple(labels), list(bounds)
        self._data: dict[tuple[str, ...], list] = {}  # labels -> [bucket counts, sum, count]
        self._lock = threading.Lock()

    def observe(self, value: float, *labels: str) -> None:
        """Record one sample for one label combination."""
        with self._lock:
            entry = self._data.get(labels)
            if entry is None:
                entry = self._data[labels] = [[0] * (len(self.bounds) + 1), 0.0, 0]
            entry[0][bisect.bisect_left(self.bounds, value)] += 1
            entry[1] += value
            entry[2] += 1

    def snapshot(self, *labels: str) -> tuple[float, int]:
        """(sum, count) for one label combination."""
        entry = self._data.get(labels)
        return (entry[1], entry[2]) if entry else (0.0, 0)

    def lines(self) -> list[str]:
        """Bucket, sum and count lines per label combination."""
        with self._lock:
            items = sorted((k, [list(v[0]), v[1], v[2]]) for k, v in self._data.items())
        out = []
        for key, (buckets, total, count) in items:
            running = 0
            for bound, hits in zip([*self.bounds, None], buckets, strict=True):
                running += hits
                le = 'le="' + ("+Inf" if bound is None else _number(bound)) + '"'
                out.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {running}")
            out.append(f"{self.name}_sum{_labels(self.label_names, key)} {_number(total)}")
            out.append(f"{self.name}_count{_labels(self.label_names, key)} {count}")
        return out


class Registry:
    """A set of metrics rendered together."""

    def __init__(self) -> None:
        self._metrics: list[Counter | Histogram] = []

    def add(self, metric):
        """Register a metric (rendered in registration order); returns it."""
        self._metrics.append(metric)
        return metric

    def counter_totals(self, names: list[str]) -> dict[str, int]:
        """Totals of the named counters (TF names with ``/`` or exported ones with ``:``);
        names that are not counters here are left out."""
        counters = {m.name: m for m in self._metrics if isinstance(m, Counter)}
        out = {}
        for name in names:
            counter = counters.get(name.replace("/", ":"))
            if counter is not None:
                out[name] = counter.total()
        return out

    def render(self) -> str:
        """The Prometheus text page (``# TYPE`` line, then samples, per metric)."""
        out: list[str] = []
        for metric in self._metrics:
            out.append(f"# TYPE {metric.name} {metric.kind}")
            out.extend(metric.lines())
        return "\n".join(out) + "\n"


# Process-wide (tasks, threads and loops outlive one registry); ``serving.task_errors`` counts.
UNHANDLED_EXCEPTIONS = Counter(":tfserve_kit:serving:unhandled_exception_count", ("task",))

_LATENCY = exponential_buckets(10, 1.8, 33)  # microseconds, as TF Serving's request_latency


class ServingMetrics:
    """The metrics this server exports (TF Serving's names and labels)."""

    def __init__(self) -> None:
        self.registry = Registry()
        add = self.registry.add
        self.request_count = add(
            Counter(":tensorflow:serving:request_count", ("model_name", "status"))
        )
        self.request_latency = add(
            Histogram(
                ":tensorflow:serving:request_latency", ("model_name", "API", "entrypoint"), _LATENCY
            )
        )
        self.runtime_latency = add(
            Histogram(
                ":tensorflow:serving:runtime_latency", ("model_name", "API", "runtime"), _LATENCY
            )
        )
        self.example_counts = add(
            Histogram(
                ":tensorflow:serving:request_example_counts",
                ("model",),
                exponential_buckets(1, 2, 15),
            )
        )
        self.example_count_total = add(
            Counter(":tensorflow:serving:request_example_count_total", ("model",))
        )
        self.queuing_latency = add(
            Histogram(
                ":tensorflow:serving:batching_session:queuing_latency",
                ("thread_pool_name",),
                _LATENCY,
            )
        )
        self.wrapped_run_count = add(
            Counter(":tensorflow:serving:batching_session:wrapped_run_count")
        )
        self.batch_size = add(
            Histogram(
                ":tensorflow:serving:batching:processed_batch_size",
                ("model_name", "op_name"),
                exponential_buckets(1, 2, 14),
            )
        )
        self.padding_size = add(
            Histogram(
                ":tensorflow:serving:batching:padding_size",
                ("model_name", "op_name"),
                exponential_buckets(1, 2, 14),
            )
        )
        self.unhandled_exceptions = add(UNHANDLED_EXCEPTIONS)  # not a TF Serving metric

    def record_request(
        self, model: str, api: str, entrypoint: str, status: str, micros: float
    ) -> None:
        """One finished REST/gRPC request: count by status, latency only when it succeeded."""
        self.request_count.inc(model, status)
        if status == "OK":
            self.request_latency.observe(micros, model, api, entrypoint)

    def render(self) -> str:
        """The Prometheus text page."""
        return self.registry.render()
