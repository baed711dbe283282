"""Read a few images of an :class:`ImageSet` as a uint8 array (e.g. for ``samples.npz``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trainer.data.types import ImageSet
from trainer.errors import DataError

__all__ = ["read_images"]


def read_images(
    ds: ImageSet, index: Sequence[int] | np.ndarray, *, image_size: int | None = None
) -> np.ndarray:
    """uint8 RGB images ``(n, H, W, 3)`` at ``index``.

    In-memory sets return their pixels as they are. File-backed sets are decoded with PIL;
    if the chosen images do not share one size they are brought to ``image_size`` with the
    contract resize (``tf.image.resize`` bilinear, no antialias), rounded to uint8 — without
    ``image_size`` that is an error.
    """
    index = np.asarray(index, dtype=np.int64)
    if ds.x is not None:
        return ds.x[index]
    assert ds.paths is not None
    from PIL import Image

    images = []
    for i in index:
        with Image.open(ds.paths[int(i)]) as image:
            images.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
    if len({im.shape for im in images}) <= 1:
        return np.stack(images) if images else np.zeros((0, 0, 0, 3), np.uint8)
    if image_size is None:
        raise DataError("images differ in size; pass image_size to bring them to one size")
    import tensorflow as tf

    resized = [
        tf.image.resize(im.astype(np.float32), (image_size, image_size), antialias=False)
        for im in images
    ]
    return np.clip(np.rint(np.stack(resized)), 0, 255).astype(np.uint8)
