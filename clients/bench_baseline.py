"""``clients bench --baseline MODEL_DIR``: the bare in-process SavedModel call.

Calls the same signature with the same tensors the bench sends, one call at a time, so the
report can show how much latency the server and the wire add. Imports TensorFlow (lazily:
only this option pays for it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from clients.bench_stats import WindowStats

__all__ = ["resolve_version_dir", "run_baseline"]


def resolve_version_dir(model_dir: Path) -> Path:
    """``model_dir`` itself if it holds ``saved_model.pb``, else its highest numeric child."""
    model_dir = Path(model_dir)
    if (model_dir / "saved_model.pb").is_file():
        return model_dir
    versions = [p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()] \
        if model_dir.is_dir() else []
    versions = [p for p in versions if (p / "saved_model.pb").is_file()]
    if not versions:
        raise ValueError(f"{model_dir} has no saved_model.pb and no numeric version "
                         "directory with one")
    return max(versions, key=lambda p: int(p.name))


def run_baseline(model_dir: Path, signature: str, input_alias: str,
                 tensors: list[np.ndarray], warmup: float = 1.0,
                 duration: float = 5.0) -> dict[str, Any]:
    """Latency of ``signature`` called in-process on ``tensors`` (round-robin)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(resolve_version_dir(model_dir)))
    if signature not in loaded.signatures:
        raise ValueError(f"{model_dir} has no signature {signature!r}; it has "
                         f"{sorted(loaded.signatures)}")
    fn = loaded.signatures[signature]
    feeds = [tf.constant(t) for t in tensors]
    end = time.perf_counter() + warmup
    i = 0
    while time.perf_counter() < end:
        fn(**{input_alias: feeds[i % len(feeds)]})
        i += 1
    lat = []
    start = time.perf_counter()
    while time.perf_counter() - start < duration or len(lat) < 5:
        t0 = time.perf_counter()
        out = fn(**{input_alias: feeds[len(lat) % len(feeds)]})
        _ = [v.numpy() for v in out.values()]  # include the device->host copy, as a server does
        lat.append(time.perf_counter() - t0)
    stats = WindowStats(seconds=time.perf_counter() - start, ok=len(lat),
                        latencies=np.asarray(lat))
    return {"model_dir": str(model_dir), "signature": signature,
            "batch_size": int(len(tensors[0])), "calls": len(lat),
            "throughput": stats.throughput,
            "latency_ms": {k: v * 1000 for k, v in stats.percentiles().items()},
            "mean_ms": stats.mean_latency * 1000}
