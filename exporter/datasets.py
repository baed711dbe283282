"""Sample images for parity checks and int8 calibration, brought to the model's input.

Accepted files: a run's ``samples.npz`` (``x_val``/``y_val``/``x_calib``) or any ``.npz`` with
``x`` (uint8 ``(N, H, W, 3)``) and optionally ``y`` (class ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exporter.errors import ExportError


@dataclass(frozen=True)
class ImageSet:
    """Images as stored (uint8, any common size) and their labels when known."""

    x: np.ndarray
    y: np.ndarray | None
    source: str

    def __len__(self) -> int:
        return int(self.x.shape[0])


def _open_npz(path: Path) -> dict[str, np.ndarray]:
    if not Path(path).is_file():
        raise ExportError(f"data file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path} is not a readable .npz file: {exc}") from exc


def _checked(x: np.ndarray, y: np.ndarray | None, source: str, limit: int | None) -> ImageSet:
    if x.ndim != 4 or x.shape[-1] != 3 or x.shape[0] == 0:
        raise ExportError(f"{source}: images must be (N, H, W, 3) with N > 0, got {x.shape}")
    if y is not None and y.shape[0] != x.shape[0]:
        raise ExportError(f"{source}: {x.shape[0]} images but {y.shape[0]} labels")
    if limit is not None:
        x = x[:limit]
        y = None if y is None else y[:limit]
    return ImageSet(x=x, y=None if y is None else y.astype(np.int64), source=source)


def load_eval_set(path: Path, limit: int | None = None) -> ImageSet:
    """Validation images (and labels) from ``samples.npz`` or an ``x``/``y`` npz."""
    data = _open_npz(path)
    for x_key, y_key in (("x_val", "y_val"), ("x", "y")):
        if x_key in data:
            return _checked(data[x_key], data.get(y_key), f"{path}:{x_key}", limit)
    raise ExportError(f"{path} holds neither x_val nor x (found: {', '.join(data) or 'nothing'})")


def load_calibration_set(path: Path, limit: int | None = None) -> ImageSet:
    """Calibration images: ``x_calib`` from a run's samples, else ``x`` of any npz."""
    data = _open_npz(path)
    for key in ("x_calib", "x"):
        if key in data:
            return _checked(data[key], None, f"{path}:{key}", limit)
    raise ExportError(f"{path} holds neither x_calib nor x, needed for int8 calibration")


def to_model_input(images: np.ndarray, image_size: int) -> np.ndarray:
    """float32 ``(N, S, S, 3)`` pixels 0..255 via the contract resize (bilinear, half-pixel
    centres, no antialiasing), as the trainer fed the model."""
    x = np.asarray(images)
    if x.shape[1:3] == (image_size, image_size):
        return x.astype(np.float32)
    import tensorflow as tf

    resized = tf.image.resize(
        tf.cast(x, tf.float32), (image_size, image_size), method="bilinear", antialias=False
    )
    return resized.numpy().astype(np.float32)
