"""Float-equivalent rewrites of a Keras model that make its int8 conversion lose less.

``Rescaling(scale, offset)`` (the in-model normalization of our models, e.g. MobileNet's
``x / 127.5 - 1``) becomes two TFLite ops, MUL then ADD, and the full-integer converter gives
the MUL's output its own int8 range: for 0..255 pixels that tensor spans 0..2 but was given
(-1, 2), a step of 3/255, so the 256 pixel values reach the network on 171 levels. A 1x1
``DepthwiseConv2D`` with weight ``scale`` and bias ``offset`` per channel computes the same
float function as one op whose int8 output spans the normalized range with one level per
pixel value (its single weight per channel is exact in int8). Measured in BENCHMARKS.md
section 8.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.model_copy import leaves, recreated

__all__ = ["rescaling_as_depthwise"]


def _per_channel(value: Any, channels: int) -> np.ndarray:
    array = np.asarray(value, np.float32).reshape(-1)
    if array.size not in (1, channels):
        raise ValueError(f"a Rescaling value of {array.size} entries for {channels} channels")
    return np.broadcast_to(array, (channels,)).astype(np.float32)


def _image_input(layer: Any) -> bool:
    """Whether ``layer`` is called once, on a 4-D channels-last tensor of known depth."""
    try:
        shape = layer.input.shape
    except (AttributeError, ValueError):  # called more than once
        return False
    return len(shape) == 4 and shape[-1] is not None


def input_scaling_names(model: Any) -> frozenset[str]:
    """The names of the layers that only scale the input image: the trainer's
    ``preprocess_*`` layers and every ``Rescaling`` or ``Normalization`` layer (also inside a
    backbone, as EfficientNet's own preprocessing)."""
    import keras

    kinds = (keras.layers.Rescaling, keras.layers.Normalization)
    return frozenset(layer.name for layer in leaves(model)
                     if layer.name.startswith("preprocess_") or isinstance(layer, kinds))


def rescaling_as_depthwise(model: Any) -> tuple[Any, int]:
    """A copy of ``model`` (same weights) with every channels-last ``Rescaling`` replaced by
    the equivalent 1x1 ``DepthwiseConv2D``, and how many were replaced."""
    import keras

    rescalings: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if isinstance(layer, keras.layers.Rescaling) and _image_input(layer):
            channels = int(layer.input.shape[-1])
            rescalings[layer.name] = (_per_channel(config["scale"], channels),
                                      _per_channel(config["offset"], channels))
            return keras.layers.DepthwiseConv2D(1, use_bias=True, name=layer.name,
                                                dtype=layer.dtype_policy)
        return recreated(layer)

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    by_name = {layer.name: layer for layer in leaves(model)}
    for layer in leaves(copy):
        if layer.name in rescalings:
            scale, offset = rescalings[layer.name]
            layer.set_weights([scale.reshape(1, 1, -1, 1), offset])
        elif layer.weights and layer is not by_name[layer.name]:  # shared layers keep theirs
            layer.set_weights(by_name[layer.name].get_weights())
    return copy, len(rescalings)
