"""The contract resize in numpy: bilinear, half-pixel centres, no antialiasing.

This reproduces ``tf.image.resize(x, (S, S), method="bilinear", antialias=False)``
(TensorFlow's ``ResizeBilinear`` with ``half_pixel_centers=True``) in float32, so a
client or a non-TensorFlow backend feeds a model exactly what the trainer fed it.
Numpy-only on purpose: clients import it without TensorFlow.
"""

from __future__ import annotations

import numpy as np

__all__ = ["resize_bilinear", "to_rgb"]


def _axis_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower/upper source indices and interpolation weights for one axis."""
    scale = np.float32(in_size) / np.float32(out_size)
    src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(src)
    lower = np.maximum(floor, 0).astype(np.intp)
    upper = np.minimum(np.ceil(src), in_size - 1).astype(np.intp)
    lerp = (src - floor).astype(np.float32)
    return lower, upper, lerp


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Bring an ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` image (or a batch of
    them with a leading axis) to three RGB channels: grey is repeated, alpha is dropped."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    channels = arr.shape[-1]
    if channels == 1:
        return np.repeat(arr, 3, axis=-1)
    if channels == 3:
        return arr
    if channels == 4:
        return arr[..., :3]
    raise ValueError(f"image has {channels} channels; accepted: 1 (grey), 3 (RGB), 4 (RGBA)")


def resize_bilinear(images: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize ``(H, W, C)`` or ``(N, H, W, C)`` images to ``size`` as float32.

    Values keep their range (0..255 stays 0..255). An image already at the target size is
    returned as float32 without interpolation, as TensorFlow does.
    """
    out_h, out_w = (size, size) if isinstance(size, int) else size
    arr = np.asarray(images)
    single = arr.ndim == 3
    if single:
        arr = arr[None]
    if arr.ndim != 4:
        raise ValueError(f"expected (H, W, C) or (N, H, W, C) images, got shape {arr.shape}")
    arr = arr.astype(np.float32, copy=False)
    _, in_h, in_w, _ = arr.shape
    if in_h == 0 or in_w == 0:
        raise ValueError(f"cannot resize an empty image of shape {arr.shape[1:]}")
    if (in_h, in_w) != (out_h, out_w):
        y_lo, y_hi, y_lerp = _axis_weights(in_h, out_h)
        x_lo, x_hi, x_lerp = _axis_weights(in_w, out_w)
        x_lerp = x_lerp[None, None, :, None]
        top_rows = arr[:, y_lo]
        bottom_rows = arr[:, y_hi]
        top_left, top_right = top_rows[:, :, x_lo], top_rows[:, :, x_hi]
        bottom_left, bottom_right = bottom_rows[:, :, x_lo], bottom_rows[:, :, x_hi]
        top = top_left + (top_right - top_left) * x_lerp
        bottom = bottom_left + (bottom_right - bottom_left) * x_lerp
        arr = top + (bottom - top) * y_lerp[None, :, None, None]
    return arr[0] if single else arr
