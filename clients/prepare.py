"""Turn caller images into the tensors each predict mode sends.

- ``client-resize``: RGB float32 ``[n, S, S, 3]`` resized here with the contract resize
  (bit-exact with ``tf.image.resize``) -> ``serving_default``;
- ``server-resize``: raw RGB uint8 ``[n, H, W, 3]`` -> ``serve_raw``. One request carries
  one size, so a mixed batch is split into groups of equal size (order is restored after);
- ``encoded``: PNG/JPEG bytes -> ``serve_bytes``. File bytes pass through unchanged; arrays
  are encoded losslessly as PNG with Pillow.
"""

from __future__ import annotations

import enum
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from serving.codecs.resize import resize_bilinear, to_rgb

__all__ = ["Mode", "ImageItem", "as_items", "to_uint8_rgb", "encode_png", "Group", "make_groups"]


class Mode(enum.StrEnum):
    """Where the image is brought to the model's input size."""

    CLIENT_RESIZE = "client-resize"
    SERVER_RESIZE = "server-resize"
    ENCODED = "encoded"

    @property
    def signature(self) -> str:
        """The SavedModel signature this mode calls (docs/contracts.md)."""
        return {"client-resize": "serving_default", "server-resize": "serve_raw",
                "encoded": "serve_bytes"}[self.value]


@dataclass
class ImageItem:
    """One image: a decoded array, its encoded file bytes, or both."""

    array: np.ndarray | None = None
    encoded: bytes | None = None

    def pixels(self) -> np.ndarray:
        """The decoded image as ``(H, W, 3)`` (grey repeated, alpha dropped)."""
        if self.array is None:
            if self.encoded is None:
                raise ValueError("image item has neither pixels nor encoded bytes")
            from PIL import Image  # lazy: Pillow is only needed for encoded input

            with Image.open(io.BytesIO(self.encoded)) as img:
                self.array = np.asarray(img.convert("RGB"))
        arr = np.asarray(self.array)
        if arr.ndim not in (2, 3):
            raise ValueError(f"an image must be (H, W) or (H, W, C); got shape {arr.shape}")
        return to_rgb(arr)


ImageLike = np.ndarray | bytes | ImageItem


def as_items(images: ImageLike | Iterable[ImageLike]) -> list[ImageItem]:
    """Accept one image, a batch array ``(N, H, W, C)``, or a sequence of arrays/bytes.

    A 3-D array whose last axis is 1, 3 or 4 is one ``(H, W, C)`` image; any other 3-D array
    is a batch of grey ``(N, H, W)`` images (pass grey batches as ``(N, H, W, 1)`` to be
    unambiguous).
    """
    if isinstance(images, ImageItem | bytes):
        images = [images]
    elif isinstance(images, np.ndarray):
        images = [images] if images.ndim <= 2 or (images.ndim == 3 and images.shape[-1] in
                                                  (1, 3, 4)) else list(images)
    items = []
    for img in images:
        if isinstance(img, ImageItem):
            items.append(img)
        elif isinstance(img, bytes | bytearray):
            items.append(ImageItem(encoded=bytes(img)))
        else:
            items.append(ImageItem(array=np.asarray(img)))
    return items


def to_uint8_rgb(image: np.ndarray) -> np.ndarray:
    """RGB uint8 pixels: uint8 as is, other dtypes (0..255 scale) rounded and clipped."""
    rgb = to_rgb(image)
    if rgb.dtype == np.uint8:
        return rgb
    return np.clip(np.rint(rgb.astype(np.float32)), 0, 255).astype(np.uint8)


def encode_png(image: np.ndarray) -> bytes:
    """Lossless PNG bytes of an image array."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(to_uint8_rgb(image)).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class Group:
    """One request's worth of images: their positions in the caller's list and the tensor."""

    indices: list[int]
    tensor: np.ndarray


def _chunks(indices: Sequence[int], batch_size: int | None) -> list[list[int]]:
    step = batch_size if batch_size and batch_size > 0 else max(len(indices), 1)
    return [list(indices[i:i + step]) for i in range(0, len(indices), step)]


def make_groups(items: Sequence[ImageItem], mode: Mode, size: tuple[int, int] | None,
                batch_size: int | None = None) -> list[Group]:
    """Build the request tensors for ``mode`` (``size`` is needed by client-resize only)."""
    if mode is Mode.CLIENT_RESIZE:
        if size is None:
            raise ValueError("client-resize needs the model's input size")
        resized = [resize_bilinear(it.pixels(), size) for it in items]
        return [Group(idx, np.ascontiguousarray(np.stack([resized[i] for i in idx])))
                for idx in _chunks(range(len(items)), batch_size)]
    if mode is Mode.ENCODED:
        blobs = [it.encoded if it.encoded is not None else encode_png(it.pixels())
                 for it in items]
        return [Group(idx, np.array([blobs[i] for i in idx], dtype=object))
                for idx in _chunks(range(len(items)), batch_size)]
    pixels = [to_uint8_rgb(it.pixels()) for it in items]
    by_size: dict[tuple[int, ...], list[int]] = {}
    for i, px in enumerate(pixels):
        by_size.setdefault(px.shape, []).append(i)
    return [Group(idx, np.ascontiguousarray(np.stack([pixels[i] for i in idx])))
            for same in by_size.values() for idx in _chunks(same, batch_size)]
