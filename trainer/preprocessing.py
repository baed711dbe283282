"""Backbone input preprocessing built only from built-in Keras layers.

Every model takes RGB pixel values 0..255; these layers turn them into what the backbone was
trained on, inside the model, so a saved model loads with ``safe_mode=True`` and the exporter
and clients never need to know the backbone's convention.
"""

from __future__ import annotations

from typing import Any

from trainer.errors import ModelError

__all__ = ["MODES", "describe", "preprocessing_layers"]

IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)  # caffe-style means, RGB order
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)

MODES: dict[str, str] = {
    "tf": "scale to [-1, 1] (inside the model)",
    "torch": "scale to [0, 1], subtract ImageNet mean, divide by std (inside the model)",
    "caffe": "RGB to BGR, subtract ImageNet mean (inside the model)",
    "unit": "scale to [0, 1] (inside the model)",
    "none": "none: the backbone takes 0..255 and normalises internally",
}


def describe(mode: str) -> str:
    """Human-readable description of a preprocessing mode (goes into model.json)."""
    return MODES[mode]


def preprocessing_layers(mode: str) -> list[Any]:
    """The layers (float32, non-trainable) that implement ``mode``, in call order."""
    import keras
    import numpy as np

    if mode == "tf":
        return [keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess_scale",
                                       dtype="float32")]
    if mode == "unit":
        return [keras.layers.Rescaling(1.0 / 255.0, name="preprocess_scale", dtype="float32")]
    if mode == "torch":
        norm = keras.layers.Normalization(
            axis=-1, mean=list(TORCH_MEAN), variance=[s * s for s in TORCH_STD],
            name="preprocess_normalize", dtype="float32")
        return [keras.layers.Rescaling(1.0 / 255.0, name="preprocess_scale", dtype="float32"),
                norm]
    if mode == "caffe":
        # out[..., j] = sum_i in[..., i] * K[i, j] + b[j] with K the RGB->BGR permutation: each
        # output is one input times 1.0 plus zeros, so the result is exactly x[..., ::-1] - mean.
        kernel = np.zeros((3, 3), dtype="float32")
        for j in range(3):
            kernel[2 - j, j] = 1.0
        bias = -np.array(IMAGENET_MEAN_RGB[::-1], dtype="float32")
        layer = keras.layers.Dense(
            3, use_bias=True, name="preprocess_bgr_mean", dtype="float32",
            kernel_initializer=keras.initializers.Constant(kernel),
            bias_initializer=keras.initializers.Constant(bias))
        layer.trainable = False
        return [layer]
    if mode == "none":
        return []
    raise ModelError(f"unknown preprocessing {mode!r}; accepted: {', '.join(MODES)}")
