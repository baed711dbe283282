"""The library side of ``clients predict`` and ``clients bench`` (the CLI only parses).

Functions here return results and formatted text; they never print.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clients.base import PredictClient
from clients.bench_run import BenchConfig, PointResult, run_sweep
from clients.bench_targets import build_payloads, generated_images
from clients.connect import make_client
from clients.images import ImageSet, load_images
from clients.prepare import Mode
from clients.tls import TlsFiles

__all__ = ["predict_images", "format_predictions", "BenchRequest", "BenchReport", "run_bench"]

log = logging.getLogger(__name__)


def predict_images(client: PredictClient, images: ImageSet, top_k: int, mode: Mode | str,
                   batch_size: int | None) -> list[dict[str, Any]]:
    """One JSON-friendly row per image: name, top-k (label, id, score), true label."""
    preds = client.predict(images.items, top_k=top_k, mode=mode, batch_size=batch_size)
    rows = []
    for i, pred in enumerate(preds):
        true = images.true_names[i] if images.true_names[i] is not None else (
            None if images.true_ids[i] is None else
            client.class_names.get(images.true_ids[i], str(images.true_ids[i])))
        rows.append({"image": images.names[i], "true": true,
                     "top_k": [{"label": lab, "id": cid, "score": score} for lab, cid, score
                               in zip(pred.labels, pred.class_ids, pred.scores, strict=True)]})
    return rows


def format_predictions(rows: list[dict[str, Any]]) -> str:
    """A text table: image, top-k ``label score`` pairs, true label when known."""
    lines = []
    width = max((len(r["image"]) for r in rows), default=5)
    for r in rows:
        pairs = "  ".join(f"{p['label']} {p['score']:.3f}" for p in r["top_k"])
        true = f"  (true: {r['true']})" if r["true"] is not None else ""
        lines.append(f"{r['image'].ljust(width)}  {pairs}{true}")
    return "\n".join(lines)


@dataclass
class BenchRequest:
    """Everything ``clients bench`` was asked to do."""

    model: str
    protocols: list[str]
    server: str | None = None
    grpc: str | None = None
    version: int | None = None
    label: str | None = None
    mode: Mode = Mode.CLIENT_RESIZE
    batch_size: int = 1
    data: Path | None = None
    columnar: bool = False
    baseline: Path | None = None
    config: BenchConfig = field(default_factory=BenchConfig)
    tls: TlsFiles | None = None


@dataclass
class BenchReport:
    """All sweep points, the optional in-process baseline, and run metadata."""

    points: list[PointResult]
    baseline: dict[str, Any] | None
    meta: dict[str, Any]


def _bench_images(req: BenchRequest) -> tuple[list, str]:
    if req.data is None:
        count = max(8 * req.batch_size, 8)
        return generated_images(count), f"{count} generated 32x32 RGB images"
    images = load_images([req.data])
    if not len(images):
        why = "; ".join(f"{p}: {r}" for p, r in images.skipped[:3])
        raise ValueError(f"--data {req.data}: no readable images ({why})")
    return images.items, f"{len(images)} images from {req.data}"


def run_bench(req: BenchRequest) -> BenchReport:
    """Run the sweep for every protocol, then the baseline when asked."""
    items, source = _bench_images(req)
    points: list[PointResult] = []
    payloads = None
    for proto in req.protocols:
        address = {"rest": {"server": req.server}, "grpc": {"grpc": req.grpc}}[proto]
        if not any(address.values()):
            raise ValueError(f"--protocol {proto} needs "
                             f"{'--server URL' if proto == 'rest' else '--grpc HOST:PORT'}")
        with make_client(req.model, version=req.version, label=req.label,
                         timeout=req.config.timeout, columnar=req.columnar, tls=req.tls,
                         **address) as client:
            payloads = build_payloads(client, items, req.mode, req.batch_size)
            log.info("%s: %d distinct batches of %d, %d bytes each", proto,
                     len(payloads.bodies), req.batch_size, len(payloads.bodies[0]))
            points += run_sweep(proto, client, payloads, req.mode.value, req.config)
    baseline = None
    if req.baseline is not None and payloads is not None:
        from clients.bench_baseline import run_baseline

        baseline = run_baseline(req.baseline, payloads.signature, payloads.input_alias,
                                payloads.tensors, warmup=min(req.config.warmup, 2.0),
                                duration=min(req.config.duration, 10.0))
        one = [p for p in points if p.load == "closed" and p.concurrency == 1]
        if one:
            baseline["server_added_p50_ms"] = {
                p.protocol: p.latency_ms["p50"] - baseline["latency_ms"]["p50"] for p in one}
    meta = {"model": req.model, "version": req.version, "label": req.label,
            "mode": req.mode.value, "batch_size": req.batch_size, "images": source,
            "columnar": req.columnar, "config": vars(req.config),
            "host": {"cpus": os.cpu_count(), "python": platform.python_version(),
                     "machine": platform.machine()},
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "baseline": baseline}
    return BenchReport(points, baseline, meta)
