"""``make_dataset``: the streaming tf.data pipeline from an :class:`ImageSet` to batches.

Per element: index -> uint8 image (gathered from ``x``, or read and decoded from ``paths``
with ``tf.image.decode_image(channels=3)``, so grey is repeated and alpha dropped) ->
float32 -> contract resize to S×S (``tf.image.resize`` bilinear, no antialias; skipped when
the image already is S×S) -> batch -> prefetch. Augmentation (training only) runs before the
resize on in-memory square images (at the source size: cheaper, and the same windows up to
interpolation), after it on decoded files.
Only indices are shuffled, so memory does not grow with the image size.

Randomness is stateless and derived from ``seed``: each epoch's order and augmentation are a
function of (seed, epoch key, position). With ``repeat=True`` the epoch key is the epoch
number (starting at ``start_epoch``), so a resumed run (``start_epoch=k``) sees exactly the
batches an uninterrupted run sees in epoch k; each epoch is batched on its own (the last batch
of an epoch may be short), so use ``steps_per_epoch = ceil(N / batch_size)``. With
``repeat=False`` every new iteration draws a fresh key from ``Dataset.random(seed)``.

Augmentations: ``flip`` (random horizontal flip, p = 0.5) and ``crop`` (reflect-pad by
``side // 8`` pixels on each side, then a random window of the image's side; a no-op below
8 px), where ``side`` is the size the augmentation runs at (above).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from trainer.data.types import ImageSet
from trainer.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import tensorflow as tf

__all__ = ["AUGMENTATIONS", "make_dataset"]

AUGMENTATIONS = ("flip", "crop")
_ORDER_SALT = 0x5EED0
_AUGMENT_SALT = 0xA06


def make_dataset(
    ds: ImageSet,
    *,
    image_size: int,
    batch_size: int,
    training: bool,
    augment: Sequence[str] = (),
    seed: int = 0,
    shuffle: bool | None = None,
    repeat: bool = False,
    start_epoch: int = 0,
) -> tf.data.Dataset:
    """Batches of (float32 images ``(B, S, S, 3)`` with RGB values 0..255, int64 labels
    ``(B,)``). ``shuffle`` defaults to ``training``; ``augment`` applies only when training."""
    import tensorflow as tf

    unknown = [name for name in augment if name not in AUGMENTATIONS]
    if unknown:
        raise DataError(f"unknown augmentation {unknown[0]!r}; accepted: flip, crop")
    if image_size < 1 or batch_size < 1:
        raise DataError(f"image size {image_size} and batch size {batch_size} must be >= 1")
    if len(ds) == 0:
        raise DataError(f"{ds.source or 'the data'} holds no images")
    shuffle = training if shuffle is None else shuffle
    steps = tuple(name for name in AUGMENTATIONS if name in augment) if training else ()
    load = _image_loader(ds, image_size)
    labels = tf.constant(ds.y, dtype=tf.int64)
    count = len(ds)
    order_seed = tf.constant([seed, _ORDER_SALT], dtype=tf.int64)
    augment_seed = tf.constant([seed, _AUGMENT_SALT], dtype=tf.int64)

    def element(key: tf.Tensor, position: tf.Tensor, index: tf.Tensor) -> tuple[Any, Any]:
        if steps:
            item_seed = _fold(_fold(augment_seed, key), position)

            def augment_fn(image: tf.Tensor, side: int) -> tf.Tensor:
                return _augment(image, steps, item_seed, side)

            image = load(index, augment_fn)
        else:
            image = load(index, None)
        return image, tf.gather(labels, index)

    def one_epoch(key: tf.Tensor) -> tf.data.Dataset:
        if shuffle:
            noise = tf.random.stateless_uniform([count], seed=_fold(order_seed, key))
            order = tf.argsort(noise, stable=True)
        else:
            order = tf.range(count)
        items = tf.data.Dataset.from_tensor_slices(tf.cast(order, tf.int64)).enumerate()
        items = items.map(
            lambda pos, idx: element(key, pos, idx),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        return items.batch(batch_size, drop_remainder=False)

    if repeat:
        keys = tf.data.Dataset.counter(start=start_epoch)
    elif shuffle or steps:
        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    else:
        keys = tf.data.Dataset.from_tensors(tf.constant(start_epoch, dtype=tf.int64))
    dataset = keys.flat_map(one_epoch)
    # flat_map hides the length; state it so Keras shows epoch progress and sizes.
    batches = tf.data.INFINITE_CARDINALITY if repeat else -(-count // batch_size)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    return dataset.with_options(options)


def _image_loader(ds: ImageSet, size: int) -> Callable[[Any, Any], Any]:
    """``(index, augment)`` -> float32 (S, S, 3) image, resized with the contract resize.
    ``augment(image, side)`` (or None) runs on the square image of side ``side``: on the
    source pixels before the resize when every image has the same square shape (in-memory
    arrays: 32 px CIFAR images are cropped and flipped at 32 px, 16x fewer pixels than at
    128 px), else after the resize."""
    import tensorflow as tf

    if ds.x is not None:
        pixels = _pixels(ds.x)
        height, width = int(ds.x.shape[1]), int(ds.x.shape[2])
        same = height == size and width == size
        early = height == width  # augment at the source size, then resize

        def from_memory(index: tf.Tensor, augment: Any) -> tf.Tensor:
            image = tf.cast(tf.gather(pixels, index), tf.float32)
            if augment is not None and early:
                image = augment(image, height)
            image = image if same else _resize(image, size)
            if augment is not None and not early:
                image = augment(image, size)
            return image

        return from_memory
    assert ds.paths is not None
    files = tf.constant(ds.paths)

    def from_file(index: tf.Tensor, augment: Any) -> tf.Tensor:
        raw = tf.io.read_file(tf.gather(files, index))
        image = tf.image.decode_image(raw, channels=3, expand_animations=False)
        image = tf.cast(image, tf.float32)
        shape = tf.shape(image)
        fits = tf.logical_and(tf.equal(shape[0], size), tf.equal(shape[1], size))
        image = tf.cond(fits, lambda: image, lambda: _resize(image, size))
        image.set_shape([size, size, 3])
        return image if augment is None else augment(image, size)

    return from_file


# One TensorFlow copy per in-memory image array, shared by every dataset built on it (the
# training and validation datasets are built more than once per run; each tf.constant of a
# 100 MB array costs ~200 MB of RSS). Entries go when the array does.
_PIXELS: dict[int, Any] = {}


def _pixels(x: np.ndarray) -> Any:
    """The tensor of ``x`` (made once while ``x`` lives)."""
    import tensorflow as tf

    key = id(x)
    if key not in _PIXELS:
        with tf.init_scope():
            _PIXELS[key] = tf.constant(x)
        weakref.finalize(x, _PIXELS.pop, key, None)
    return _PIXELS[key]


def _resize(image: tf.Tensor, size: int) -> tf.Tensor:
    import tensorflow as tf

    return tf.image.resize(image, (size, size), method="bilinear", antialias=False)


def _fold(seed: tf.Tensor, data: tf.Tensor) -> tf.Tensor:
    import tensorflow as tf

    mixed = tf.random.experimental.stateless_fold_in(seed, tf.cast(data, tf.int64))
    return tf.cast(mixed, tf.int64)


def _augment(image: tf.Tensor, steps: tuple[str, ...], seed: tf.Tensor, size: int) -> tf.Tensor:
    """Apply ``crop`` then ``flip`` with per-image stateless seeds."""
    import tensorflow as tf

    pad = size // 8
    if "crop" in steps and pad > 0:
        padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
        image = tf.image.stateless_random_crop(padded, [size, size, 3], seed=_fold(seed, 1))
    if "flip" in steps:
        image = tf.image.stateless_random_flip_left_right(image, seed=_fold(seed, 2))
    return image
