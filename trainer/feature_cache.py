"""Cached bottleneck features: a frozen feature extractor's outputs for an ImageSet, computed
once and kept on disk.

An entry is one file ``<cache_dir>/<key digest>.npz`` holding ``features`` (float32 ``(N, D)``)
and ``meta`` (JSON: the key, the shape, the SHA-256 of the feature bytes, the extraction
time). The key (:class:`FeatureKey`) names the backbone, the weights (``none``/``imagenet``
or the weights file's SHA-256), the image size, the pooling, the data fingerprint and a
digest of the extractor's actual weight values, so a different random init or an
``--init-from`` backbone never hits another model's entry.

There is no eviction: delete the directory to reclaim space.

Concurrency: an entry is written to a temporary file in the cache directory and published
with a hard link (``os.link`` fails if the name exists), so two runs racing on one key both
compute, the first publishes and the loser reuses the published entry. Readers never see a
partial file. A corrupt entry (unreadable zip, CRC or checksum mismatch, wrong key or shape)
is logged and recomputed, never used.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer.data import ImageSet
from trainer.errors import ModelError, TrainerError

__all__ = ["FeatureKey", "CachedFeatures", "default_cache_dir", "weights_id", "model_digest",
           "cached_features", "compute_features", "check_cache_dir"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FeatureKey:
    """Everything the cached features depend on (see module docstring)."""

    backbone: str  # registry name, with alpha when it matters (e.g. "mobilenet@0.25")
    weights: str  # weights_id(--weights)
    image_size: int
    pooling: str  # avg | flatten | none (backbone ends in a vector)
    data: str  # trainer.data.data_fingerprint of the images
    model: str = ""  # model_digest(extractor): the weight values actually used

    def digest(self) -> str:
        """Hex digest naming the cache entry."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


@dataclass(frozen=True)
class CachedFeatures:
    """Features of one ImageSet, and whether they came from the cache."""

    features: np.ndarray  # float32 (N, D), in the ImageSet's order
    hit: bool
    path: Path
    compute_seconds: float  # time the extraction took when it was computed (stored in meta)


def default_cache_dir() -> Path:
    """``$TRAINER_CACHE_DIR/features`` or ``~/.cache/trainer/features``."""
    base = os.environ.get("TRAINER_CACHE_DIR") or Path.home() / ".cache" / "trainer"
    return Path(base) / "features"


def weights_id(weights: str) -> str:
    """``none`` / ``imagenet`` as given; a weights file as ``sha256:<hex>`` of its bytes."""
    if weights in ("none", "imagenet"):
        return weights
    digest = hashlib.sha256()
    try:
        with open(weights, "rb") as handle:
            while block := handle.read(_CHUNK):
                digest.update(block)
    except OSError as exc:
        raise TrainerError(f"cannot read weights file {weights}: {exc.strerror}") from None
    return "sha256:" + digest.hexdigest()


def model_digest(model: Any) -> str:
    """SHA-256 of a model's weight shapes and values (all weights, in order)."""
    digest = hashlib.sha256()
    for weight in model.weights:
        value = np.ascontiguousarray(np.asarray(weight), dtype=np.float32)
        digest.update(f"{value.shape}\0".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def check_cache_dir(cache_dir: str | Path) -> Path:
    """Create ``cache_dir`` and prove it writable, else a one-line TrainerError."""
    root = Path(cache_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe.", dir=root)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise TrainerError(f"feature cache directory {root} is not writable "
                           f"({exc.strerror or exc}); pass a writable --cache-dir") from None
    return root


def compute_features(extractor: Any, ds: ImageSet, image_size: int,
                     batch_size: int = 64) -> np.ndarray:
    """Run ``extractor`` (inference mode) over ``ds`` in order; float32 ``(N, D)``."""
    from trainer.data import make_dataset

    dataset = make_dataset(ds, image_size=image_size, batch_size=batch_size, training=False)
    features = extractor.predict(dataset.map(lambda x, y: x), verbose=0)
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or features.shape[0] != len(ds):
        raise ModelError(f"feature extractor gives shape {features.shape}; cached features "
                         f"need (N, D) with N = {len(ds)} (pooled features)")
    return features


def _entry_bytes(features: np.ndarray, key: FeatureKey, seconds: float) -> bytes:
    meta = {"format_version": FORMAT_VERSION, "key": asdict(key),
            "shape": list(features.shape), "dtype": "float32",
            "sha256": hashlib.sha256(features.tobytes()).hexdigest(),
            "compute_seconds": round(seconds, 3)}
    buf = io.BytesIO()
    np.savez(buf, features=features, meta=np.array(json.dumps(meta)))
    return buf.getvalue()


class _Corrupt(Exception):
    """A cache entry that must not be used (message: why)."""


def _output_dim(extractor: Any) -> int | None:
    """The extractor's feature width D, when it declares one."""
    shape = getattr(extractor, "output_shape", None)
    return int(shape[-1]) if shape and shape[-1] is not None else None


def _read_entry(path: Path, key: FeatureKey, rows: int,
                dim: int | None) -> tuple[np.ndarray, float]:
    """``(features, compute_seconds)`` of a verified entry; ``_Corrupt`` otherwise."""
    try:
        with np.load(path, allow_pickle=False) as entry:
            meta = json.loads(str(entry["meta"]))
            features = entry["features"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise _Corrupt(f"unreadable: {type(exc).__name__}: {str(exc)[:120]}") from None
    if not isinstance(meta, dict) or meta.get("key") != asdict(key):
        raise _Corrupt("its key does not match")
    if (features.dtype != np.float32 or features.ndim != 2 or features.shape[0] != rows
            or (dim is not None and features.shape[1] != dim)):
        raise _Corrupt(f"shape {features.shape} {features.dtype}, expected "
                       f"({rows}, {dim or 'D'}) float32")
    if list(features.shape) != meta.get("shape"):
        raise _Corrupt(f"shape {features.shape} differs from the recorded {meta.get('shape')}")
    if hashlib.sha256(np.ascontiguousarray(features).tobytes()).hexdigest() != meta.get("sha256"):
        raise _Corrupt("checksum mismatch")
    return features, float(meta.get("compute_seconds") or 0.0)


def _publish(root: Path, target: Path, data: bytes, replace: bool) -> bool:
    """Write ``data`` to ``target`` via a temporary file. Without ``replace`` an existing
    entry wins (returns False: the caller should reuse it)."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=root)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, target)
            return True
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        except OSError:  # file systems without hard links: last writer wins, still atomic
            os.replace(tmp, target)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def cached_features(extractor: Any, ds: ImageSet, key: FeatureKey, cache_dir: str | Path, *,
                    batch_size: int = 64) -> CachedFeatures:
    """The features of ``ds`` under ``key``: read from ``cache_dir`` when a valid entry
    exists, else computed with ``extractor`` and stored. ``cache_dir`` must be writable."""
    root = check_cache_dir(cache_dir)
    path = root / f"{key.digest()}.npz"
    dim = _output_dim(extractor)
    corrupt = False
    if path.exists():
        try:
            features, seconds = _read_entry(path, key, len(ds), dim)
            log.info("feature cache hit: %s (%d x %d)", path.name, *features.shape)
            return CachedFeatures(features, True, path, seconds)
        except _Corrupt as exc:
            log.warning("feature cache entry %s is corrupt (%s); recomputing", path, exc)
            corrupt = True
    start = time.perf_counter()
    features = compute_features(extractor, ds, key.image_size, batch_size)
    seconds = time.perf_counter() - start
    log.info("feature cache miss: computed %d x %d features in %.1f s", *features.shape, seconds)
    if _publish(root, path, _entry_bytes(features, key, seconds), replace=corrupt):
        return CachedFeatures(features, False, path, seconds)
    try:  # another run published the same key first: reuse its entry
        theirs, their_seconds = _read_entry(path, key, len(ds), dim)
        log.info("feature cache: another run stored %s first; reusing it", path.name)
        return CachedFeatures(theirs, False, path, their_seconds)
    except _Corrupt as exc:
        log.warning("feature cache entry %s is corrupt (%s); replacing it", path, exc)
        _publish(root, path, _entry_bytes(features, key, seconds), replace=True)
        return CachedFeatures(features, False, path, seconds)
