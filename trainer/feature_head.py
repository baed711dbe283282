"""Train a classifier's head on cached features, so the full model ends up trained.

``split_classifier(model)`` cuts a classifier built by ``trainer.model.build_classifier`` at
its pooled features: the *extractor* is the model up to the pooling layer (``head_pool`` /
``head_flatten``; for backbones that already end in a vector, up to the input of the first
``head_*`` layer) and the *head* is a small model ``Input(D) -> remaining head layers``.
The head **shares its layer objects** with the full model, so training the head trains the
full model's head in place: after ``head.fit(features, ...)`` the full model is complete and
``model(images) == head(extractor(images))`` (up to float rounding).
``transplant_head`` copies head weights by layer name for heads trained elsewhere (e.g. a
head restored from a checkpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer.errors import ModelError

__all__ = ["FeatureSplit", "POOLING_LAYERS", "split_classifier", "can_cache",
           "transplant_head", "feature_dataset", "estimated_speedup"]

HEAD_PREFIX = "head"
POOLING_LAYERS = ("head_pool", "head_flatten")
_ORDER_SALT = 0xFEA7


@dataclass(frozen=True)
class FeatureSplit:
    """A classifier cut at its pooled features."""

    extractor: Any  # keras.Model: image (S, S, 3) 0..255 -> features (D,)
    head: Any  # keras.Model: features (D,) -> probabilities (C,), layers shared with the model
    pooling: str  # avg | flatten | none
    feature_dim: int


def split_classifier(model: Any) -> FeatureSplit:
    """Cut ``model`` into extractor and head (see module docstring)."""
    import keras

    heads = [layer for layer in model.layers if layer.name.startswith(HEAD_PREFIX)]
    if not heads:
        raise ModelError(f"model {model.name!r} has no head_* layers to train on features")
    if heads[0].name in POOLING_LAYERS:
        pool, rest = heads[0], heads[1:]
        features = pool.output
        pooling = "avg" if pool.name == "head_pool" else "flatten"
    else:
        rest, features, pooling = heads, heads[0].input, "none"
    if len(features.shape) != 2:
        raise ModelError(f"features before the head have shape {features.shape}; need (N, D)")
    dim = int(features.shape[-1])
    extractor = keras.Model(model.input, features, name="feature_extractor")
    inputs = keras.Input((dim,), name="features", dtype="float32")
    x = inputs
    for layer in rest:
        x = layer(x)
    return FeatureSplit(extractor, keras.Model(inputs, x, name="feature_head"), pooling, dim)


def can_cache(split: FeatureSplit) -> bool:
    """True when the extractor has nothing to train (fully frozen backbone): only then are
    its features constant across epochs."""
    return not split.extractor.trainable_weights


def transplant_head(head: Any, model: Any) -> int:
    """Copy each ``head*`` layer's variables (weights, and the random-generator state of
    ``Dropout``, so a resumed run draws the same masks) from ``head`` into the same-named
    layer of ``model``; returns the number of layers copied. Shapes must match."""
    copied = 0
    for layer in head.layers:
        if not layer.name.startswith(HEAD_PREFIX) or not layer.variables:
            continue
        try:
            target = model.get_layer(layer.name)
        except ValueError:
            raise ModelError(f"the model has no layer {layer.name!r} to take the head's "
                             "weights") from None
        mine = [tuple(v.shape) for v in target.variables]
        if mine != [tuple(v.shape) for v in layer.variables]:
            raise ModelError(f"head layer {layer.name!r} does not fit the model: {mine}")
        for dst, src in zip(target.variables, layer.variables, strict=True):
            if dst is not src:
                dst.assign(np.asarray(src))
        copied += 1
    return copied


def feature_dataset(features: np.ndarray, y: np.ndarray, num_classes: int, batch_size: int,
                    *, training: bool, seed: int = 0, start_epoch: int = 0) -> Any:
    """``(features, one-hot labels)`` batches. Training: repeated, reshuffled each epoch as a
    stateless function of (seed, epoch), starting at ``start_epoch`` (so ``--resume`` sees
    the same batches); use ``steps_per_epoch = ceil(N / batch_size)``. Else: one pass, in
    order."""
    import tensorflow as tf

    feats = tf.constant(np.asarray(features, dtype=np.float32))
    labels = tf.one_hot(tf.constant(np.asarray(y, dtype=np.int64)), num_classes,
                        dtype=tf.float32)
    count = int(feats.shape[0])
    if not training:
        data = tf.data.Dataset.from_tensor_slices((feats, labels)).batch(batch_size)
        return data.prefetch(tf.data.AUTOTUNE)
    order_seed = tf.constant([seed, _ORDER_SALT], dtype=tf.int64)

    def one_epoch(epoch: Any) -> Any:
        key = tf.random.experimental.stateless_fold_in(order_seed, epoch)
        order = tf.argsort(tf.random.stateless_uniform([count], seed=key), stable=True)
        return tf.data.Dataset.from_tensor_slices(
            (tf.gather(feats, order), tf.gather(labels, order))).batch(batch_size)

    data = tf.data.Dataset.counter(start=start_epoch).flat_map(one_epoch)
    return data.prefetch(tf.data.AUTOTUNE)


def estimated_speedup(extract_seconds: float, images: int, head_epoch_seconds: float,
                      head_images: int) -> float | None:
    """Per-epoch speed-up of a head epoch on cached features over a frozen-backbone epoch
    through the full network, estimated as (backbone forward time per image + head time
    per image) / head time per image. The forward pass dominates a frozen epoch (no
    gradients flow into the backbone), so this is what the uncached epoch would cost."""
    if head_epoch_seconds <= 0 or images <= 0 or head_images <= 0:
        return None
    head_per_image = head_epoch_seconds / head_images
    return (extract_seconds / images + head_per_image) / head_per_image
