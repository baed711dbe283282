"""A stable digest of an :class:`ImageSet` (cache key) and a one-line description."""

from __future__ import annotations

import hashlib
import os

import numpy as np

from trainer.data.types import ImageSet

__all__ = ["data_fingerprint", "describe"]

_CHUNK = 1 << 24


def data_fingerprint(ds: ImageSet) -> str:
    """SHA-256 hex digest of the class names, labels and pixels (in-memory sets) or of the
    file paths with their sizes and modification times (file-backed sets).

    Equal content gives equal digests across processes; any change of an image, a label,
    the order or the class names changes it.
    """
    digest = hashlib.sha256()
    digest.update(b"labels\0" + "\0".join(ds.labels).encode("utf-8") + b"\0")
    y = np.ascontiguousarray(ds.y, dtype="<i8")
    digest.update(b"y\0" + y.tobytes())
    if ds.x is not None:
        x = np.ascontiguousarray(ds.x)
        digest.update(f"x\0{x.dtype.str}\0{x.shape}\0".encode())
        flat = x.reshape(-1).view(np.uint8)
        for start in range(0, flat.size, _CHUNK):
            digest.update(flat[start : start + _CHUNK].data)
    else:
        assert ds.paths is not None
        digest.update(b"paths\0")
        for path in ds.paths:
            stat = os.stat(path)
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def describe(ds: ImageSet) -> str:
    """One line for logs and summaries, e.g. ``10000 images, 10 classes, 32x32 in memory``."""
    if ds.x is not None:
        form = f"{ds.x.shape[1]}x{ds.x.shape[2]} in memory"
    else:
        form = "files decoded on the fly"
    text = f"{len(ds)} images, {ds.num_classes} classes, {form}"
    if ds.skipped:
        text += f", {ds.skipped} unreadable skipped"
    return text
