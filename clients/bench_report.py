"""``clients bench`` output: a text table, JSON, CSV and a latency-vs-throughput PNG.

Files are written to a temporary name next to the target and renamed, so a reader never
sees half a report.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from clients.bench_run import PointResult
from common.atomic import write_bytes as atomic_write_bytes

__all__ = ["format_table", "write_json", "write_csv", "write_png"]

_PCTS = ("p50", "p90", "p95", "p99", "p99.9", "max")


def _fmt(v: float | None, digits: int = 2) -> str:
    return "-" if v is None or math.isnan(v) else f"{v:.{digits}f}"


def _load(p: PointResult) -> str:
    return f"c={p.concurrency}" if p.load == "closed" else f"r={p.rate:g}/s"


def format_table(points: list[PointResult], baseline: dict[str, Any] | None = None) -> str:
    """A fixed-width table, one row per point (latencies in ms)."""
    head = ["proto", "mode", "B", "load", "stable", "req/s", "img/s", *_PCTS, "errors",
            "req B", "resp B", "checked"]
    rows = [head]
    for p in points:
        errors = ",".join(f"{k}:{v}" for k, v in sorted(p.errors.items())) or "0"
        rows.append([p.protocol, p.mode, str(p.batch_size), _load(p),
                     "yes" if p.stable else f"NO({p.windows}w)", _fmt(p.throughput, 1),
                     _fmt(p.images_per_s, 1), *(_fmt(p.latency_ms[k]) for k in _PCTS), errors,
                     f"{p.request_bytes:.0f}", f"{p.response_bytes:.0f}",
                     f"{p.checked - p.mismatched}/{p.checked}"])
    if baseline:
        lat = baseline["latency_ms"]
        rows.append(["in-proc", baseline["signature"], str(baseline["batch_size"]), "c=1",
                     "-", _fmt(baseline["throughput"], 1),
                     _fmt(baseline["throughput"] * baseline["batch_size"], 1),
                     *(_fmt(lat[k]) for k in _PCTS), "0", "-", "-", "-"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    unstable = [p for p in points if not p.stable]
    if unstable:
        lines.append(f"{len(unstable)} point(s) did not stabilise (last 3 windows within the "
                     "stability tolerance) before --duration; their numbers are the last 3 "
                     "windows anyway.")
    return "\n".join(lines)


def write_json(path: Path, points: list[PointResult], meta: dict[str, Any]) -> None:
    """``{"meta": ..., "points": [...]}``."""
    doc = {"meta": meta, "points": [p.to_dict() for p in points]}
    atomic_write_bytes(path, json.dumps(doc, indent=2).encode())


def write_csv(path: Path, points: list[PointResult]) -> None:
    """One row per point; latency columns in ms, errors as ``kind:count;...``."""
    buf = io.StringIO()
    cols = ["protocol", "mode", "batch_size", "load", "concurrency", "rate", "stable",
            "windows", "seconds", "requests_ok", "throughput", "images_per_s",
            *(f"{k}_ms" for k in _PCTS), "mean_ms", "errors", "request_bytes",
            "response_bytes", "checked", "mismatched"]
    writer = csv.writer(buf)
    writer.writerow(cols)
    for p in points:
        writer.writerow([p.protocol, p.mode, p.batch_size, p.load, p.concurrency or "",
                         "" if p.rate is None else p.rate, p.stable, p.windows,
                         f"{p.seconds:.3f}", p.requests_ok, f"{p.throughput:.3f}",
                         f"{p.images_per_s:.3f}", *(f"{p.latency_ms[k]:.4f}" for k in _PCTS),
                         f"{p.mean_ms:.4f}",
                         ";".join(f"{k}:{v}" for k, v in sorted(p.errors.items())),
                         f"{p.request_bytes:.1f}", f"{p.response_bytes:.1f}", p.checked,
                         p.mismatched])
    atomic_write_bytes(path, buf.getvalue().encode())


def write_png(path: Path, points: list[PointResult], title: str = "") -> None:
    """Latency percentiles (log ms) against throughput, one line style per protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colours = {"p50": "tab:blue", "p90": "tab:green", "p99": "tab:orange", "p99.9": "tab:red"}
    styles = {"rest": "-o", "grpc": "--s"}
    for proto in sorted({p.protocol for p in points}):
        for load in ("closed", "open"):
            pts = sorted((p for p in points if p.protocol == proto and p.load == load),
                         key=lambda p: (p.concurrency or 0, p.rate or 0.0))
            if not pts:
                continue
            for pct, colour in colours.items():
                ax.plot([p.throughput for p in pts], [p.latency_ms[pct] for p in pts],
                        styles.get(proto, "-^"), color=colour, alpha=0.9 if load == "closed"
                        else 0.5, label=f"{proto} {load} {pct}")
    ax.set_xlabel("throughput (requests/s)")
    ax.set_ylabel("latency (ms)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title or "clients bench: latency percentiles vs throughput")
    ax.legend(fontsize=7, ncol=2)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
