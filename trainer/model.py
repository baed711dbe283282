"""Compose the classifier: ``image`` input (RGB 0..255) -> [input model] -> preprocessing ->
[upsampling] -> backbone -> head.

The optional *input model* (``--input-noise``, ``--upsample``) is two built-in layers:
``input_noise`` (Gaussian noise added to the 0..255 pixels, stddev in pixel units, built
around ``GaussianNoise``; active only when training, exactly the identity in inference and
in exported graphs) and ``input_upsample``
(``UpSampling2D``, nearest neighbour, after preprocessing): the model input stays S x S (what
clients send, ``image_size`` in ``model.json``) while the backbone sees (S*K) x (S*K).

Layer naming is part of the design: the backbone is one sub-model named ``backbone``,
preprocessing layers are ``preprocess_*`` and head layers ``head_*``, so later stages (e.g.
``--init-from``) can take "every layer except the head" by name. Only built-in Keras layers are
used, so ``keras.saving.load_model(path, safe_mode=True)`` works without importing trainer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from trainer.backbones import BACKBONE_NAME, create_backbone, get_spec
from trainer.errors import ModelError
from trainer.hub import keras_name
from trainer.preprocessing import preprocessing_layers

__all__ = ["HeadConfig", "build_classifier", "dtype_policy", "param_counts", "NOISE_NAME",
           "UPSAMPLE_NAME", "INPUT_MODEL_PREFIX"]

INPUT_NAME = "image"
OUTPUT_NAME = "head_output"
INPUT_MODEL_PREFIX = "input_"
NOISE_NAME = "input_noise"
UPSAMPLE_NAME = "input_upsample"


@dataclass(frozen=True)
class HeadConfig:
    """The classifier head on top of the backbone features."""

    pooling: str = "avg"  # avg | flatten (ignored when the backbone ends in a vector)
    dense: int = 0  # hidden Dense units, 0 = none
    dropout: float = 0.0  # dropout before the output layer


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build layers under the Keras dtype policy ``name``; restore the previous one after."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _head(x: Any, features_flat: bool, head: HeadConfig, num_classes: int) -> Any:
    import keras

    if not features_flat:
        if head.pooling == "avg":
            x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
        elif head.pooling == "flatten":
            x = keras.layers.Flatten(name="head_flatten")(x)
        else:
            raise ModelError(f"--pooling must be avg or flatten, not {head.pooling!r}")
    if head.dense > 0:
        x = keras.layers.Dense(head.dense, activation="relu", name="head_dense")(x)
    if head.dropout > 0:
        x = keras.layers.Dropout(head.dropout, name="head_dropout")(x)
    return keras.layers.Dense(num_classes, activation="softmax", dtype="float32",
                              name=OUTPUT_NAME)(x)


def _noise(x: Any, stddev: float) -> Any:
    """``x + stddev * N(0, 1)`` in training, exactly ``x`` otherwise, from built-in layers.
    Keras' ``GaussianNoise`` only takes stddev <= 1, far below a useful noise on 0..255
    pixels, so it draws unit noise on zeros (``x * 0``) which is then scaled and added: in
    inference the noise layer is the identity, the scaled zeros are 0 and ``x + 0 == x``
    bit for bit (no random op in inference or exported graphs)."""
    import keras

    zeros = keras.layers.Rescaling(0.0, name=f"{NOISE_NAME}_zeros", dtype="float32")(x)
    unit = keras.layers.GaussianNoise(1.0, name=NOISE_NAME, dtype="float32")(zeros)
    scaled = keras.layers.Rescaling(stddev, name=f"{NOISE_NAME}_scale", dtype="float32")(unit)
    return keras.layers.Add(name=f"{NOISE_NAME}_add", dtype="float32")([x, scaled])


def build_classifier(backbone: str, num_classes: int, image_size: int, *,
                     weights: str = "none", alpha: float = 1.0,
                     head: HeadConfig | None = None, precision: str = "float32",
                     input_noise: float = 0.0, upsample: int = 1) -> Any:
    """The full classifier: input ``image`` float32 ``(S, S, 3)`` 0..255 -> probabilities
    float32 ``(C,)``. ``precision`` is a Keras dtype policy (``float32``/``mixed_float16``);
    preprocessing and the output layer stay float32 under mixed precision.
    ``input_noise``/``upsample``: the input model (module docstring); the backbone is built
    for ``image_size * upsample`` px."""
    import keras

    if num_classes < 2:
        raise ModelError(f"need at least 2 classes to train a classifier, got {num_classes}")
    if input_noise < 0 or upsample < 1:
        raise ModelError(f"--input-noise must be >= 0 and --upsample >= 1, got {input_noise} "
                         f"and {upsample}")
    spec = get_spec(backbone)
    head = head or HeadConfig()
    with dtype_policy(precision):
        base = create_backbone(backbone, image_size * upsample, weights, alpha)
        inputs = keras.Input((image_size, image_size, 3), name=INPUT_NAME, dtype="float32")
        x = inputs
        if input_noise > 0:
            x = _noise(x, input_noise)
        for layer in preprocessing_layers(spec.preprocessing):
            x = layer(x)
        if upsample > 1:
            x = keras.layers.UpSampling2D(upsample, name=UPSAMPLE_NAME, dtype="float32")(x)
        x = base(x)
        outputs = _head(x, spec.flat_features, head, num_classes)
        return keras.Model(inputs, outputs, name=f"{keras_name(backbone)}_classifier")


def backbone_of(model: Any) -> Any:
    """The ``backbone`` sub-model of a classifier built here."""
    try:
        return model.get_layer(BACKBONE_NAME)
    except ValueError:
        raise ModelError(f"model {model.name!r} has no '{BACKBONE_NAME}' sub-model") from None


def param_counts(model: Any) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    import numpy as np

    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    return trainable, int(model.count_params())
