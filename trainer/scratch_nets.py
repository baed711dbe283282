"""Backbones trained from scratch: the tutorial's ``small_cnn`` and a BatchNorm ``mini_vgg``.

Each function returns a functional Keras model of built-in layers taking preprocessed images.
"""

from __future__ import annotations

from typing import Any

__all__ = ["small_cnn", "mini_vgg"]

MINI_VGG_BLOCKS: tuple[tuple[int, int], ...] = ((32, 2), (64, 2), (128, 2))


def small_cnn(input_shape: tuple[int, int, int], name: str = "backbone") -> Any:
    """Conv 3x3 (32) -> MaxPool -> Flatten -> Dense 100: the tutorial baseline without its
    classifier (the head adds ``Dense(classes)``)."""
    import keras

    inputs = keras.Input(input_shape, name="backbone_input")
    x = keras.layers.Conv2D(32, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(100, activation="relu", name="fc1")(x)
    return keras.Model(inputs, x, name=name)


def mini_vgg(input_shape: tuple[int, int, int], name: str = "backbone") -> Any:
    """VGG-style blocks of 3x3 convs, each followed by BatchNorm and ReLU, with a max-pool
    after every block (32-64-128 filters, two convs per block)."""
    import keras

    inputs = keras.Input(input_shape, name="backbone_input")
    x = inputs
    for b, (filters, convs) in enumerate(MINI_VGG_BLOCKS, start=1):
        for c in range(1, convs + 1):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                    name=f"block{b}_conv{c}")(x)
            x = keras.layers.BatchNormalization(name=f"block{b}_bn{c}")(x)
            x = keras.layers.ReLU(name=f"block{b}_relu{c}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    return keras.Model(inputs, x, name=name)
