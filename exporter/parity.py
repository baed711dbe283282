"""The parity and speed report: each exported format against the reference model.

One ``FormatReport`` per format (top-1 agreement, probability differences, accuracy, size,
latency) collected in a ``ParityReport``. ``exporter export`` refuses to publish when any
format misses its threshold, ``exporter verify`` prints the same object, and tests assert on it
with ``assert_parity``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class FormatReport:
    """How one exported file compares with the reference on the same images."""

    format: str
    file: str
    precision: str
    size_bytes: int
    n_samples: int
    top1_agreement: float
    max_abs_diff: float
    mean_abs_diff: float
    threshold: float
    accuracy: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when top-1 agreement reaches the threshold."""
        return self.top1_agreement >= self.threshold

    def shortfall(self) -> str:
        """One line saying by how much the format missed its threshold."""
        gap = (self.threshold - self.top1_agreement) * 100
        return (
            f"{self.format}: top-1 agreement {self.top1_agreement:.2%} < required "
            f"{self.threshold:.2%} (short by {gap:.2f} points on {self.n_samples} images)"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (includes ``passed``)."""
        return {**asdict(self), "passed": self.passed}


@dataclass
class ParityReport:
    """All formats of one version against one reference on one sample."""

    reference: str
    data_source: str
    n_samples: int
    reference_accuracy: float | None
    formats: list[FormatReport] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every format passed."""
        return all(f.passed for f in self.formats)

    def failures(self) -> list[FormatReport]:
        """The formats below their threshold."""
        return [f for f in self.formats if not f.passed]

    def get(self, name: str) -> FormatReport:
        """The report of format ``name`` (KeyError if absent)."""
        for item in self.formats:
            if item.format == name:
                return item
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, the ``parity`` block of export_report.json; each format also gets
        ``accuracy_drop`` (reference accuracy minus its accuracy) when labels are known."""
        formats = []
        for item in self.formats:
            data = item.to_dict()
            if item.accuracy is not None and self.reference_accuracy is not None:
                data["accuracy_drop"] = self.reference_accuracy - item.accuracy
            formats.append(data)
        return {
            "reference": self.reference,
            "data_source": self.data_source,
            "n_samples": self.n_samples,
            "reference_accuracy": self.reference_accuracy,
            "passed": self.passed,
            "formats": formats,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParityReport:
        """Rebuild a report from ``to_dict()`` output."""
        names = set(FormatReport.__dataclass_fields__)
        formats = [
            FormatReport(**{k: v for k, v in f.items() if k in names}) for f in data["formats"]
        ]
        return cls(
            reference=data["reference"],
            data_source=data["data_source"],
            n_samples=data["n_samples"],
            reference_accuracy=data.get("reference_accuracy"),
            formats=formats,
        )

    def table(self) -> str:
        """A fixed-width text table, one row per format."""
        head = (
            f"{'format':<16}{'size KB':>10}{'agree':>9}{'max|dp|':>10}{'mean|dp|':>10}"
            f"{'acc':>8}{'b1 ms':>9}{'b32 ms':>9}  status"
        )
        lines = [
            f"reference: {self.reference} on {self.n_samples} images from {self.data_source}"
            + (
                f", accuracy {self.reference_accuracy:.2%}"
                if self.reference_accuracy is not None
                else ""
            ),
            head,
        ]
        for f in self.formats:
            acc = f"{f.accuracy:.2%}" if f.accuracy is not None else "-"
            b1 = f.latency_ms.get("1")
            b32 = f.latency_ms.get("32")
            lines.append(
                f"{f.format:<16}{f.size_bytes / 1024:>10.1f}{f.top1_agreement:>9.2%}"
                f"{f.max_abs_diff:>10.2e}{f.mean_abs_diff:>10.2e}{acc:>8}"
                f"{(f'{b1:.2f}' if b1 is not None else '-'):>9}"
                f"{(f'{b32:.2f}' if b32 is not None else '-'):>9}  "
                + ("ok" if f.passed else f"FAIL (< {f.threshold:.2%})")
            )
        return "\n".join(lines)


def compare(reference: np.ndarray, probs: np.ndarray) -> tuple[float, float, float]:
    """(top-1 agreement, max |dp|, mean |dp|) of ``probs`` against ``reference``."""
    reference = np.asarray(reference, dtype=np.float32)
    probs = np.asarray(probs, dtype=np.float32)
    if reference.shape != probs.shape:
        raise ValueError(f"shape mismatch: reference {reference.shape} vs {probs.shape}")
    agree = float(np.mean(reference.argmax(axis=1) == probs.argmax(axis=1)))
    diff = np.abs(reference - probs)
    return agree, float(diff.max()), float(diff.mean())


def accuracy(probs: np.ndarray, labels: np.ndarray | None) -> float | None:
    """Top-1 accuracy, or None without labels."""
    if labels is None:
        return None
    return float(np.mean(np.asarray(probs).argmax(axis=1) == np.asarray(labels)))


def median_latency_ms(
    predict: Callable[[np.ndarray], Any], x: np.ndarray, batch: int, repeats: int
) -> float:
    """Median wall time (ms) of ``predict`` on a batch of ``batch`` images (after one warm-up
    call); the batch is tiled from ``x`` when ``x`` is smaller."""
    reps = int(np.ceil(batch / len(x)))
    data = np.concatenate([x] * reps)[:batch] if reps > 1 else x[:batch]
    predict(data)
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        predict(data)
        times.append((time.perf_counter() - start) * 1000.0)
    return float(statistics.median(times))


def assert_parity(report: ParityReport, formats: list[str] | None = None) -> None:
    """Test helper: fail with every shortfall listed unless the chosen formats all passed."""
    chosen = report.formats if formats is None else [report.get(name) for name in formats]
    failing = [f.shortfall() for f in chosen if not f.passed]
    assert not failing, "parity failed: " + "; ".join(failing)
