"""Bias correction of int8-rounded weights (``exporter.bias_correction``) on tiny models."""

from __future__ import annotations

import numpy as np
import pytest

from exporter.bias_correction import bias_corrected_copy, round_per_channel
from tests.exporter.random_weights import randomize

keras = pytest.importorskip("keras")


def _linear_model(nested: bool) -> keras.Model:
    """1x1 convolutions only, no activation: the mean output is exactly linear in the mean
    input, so a corrected copy must reproduce the float model's mean output."""
    def body(x):
        x = keras.layers.Conv2D(6, 1, use_bias=False, name="conv")(x)
        x = keras.layers.BatchNormalization(name="bn")(x)
        x = keras.layers.DepthwiseConv2D(1, use_bias=False, name="dw")(x)
        x = keras.layers.BatchNormalization(name="dw_bn")(x)
        return keras.layers.Conv2D(5, 1, use_bias=True, name="pw_bias")(x)

    inputs = keras.Input((4, 4, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="scale")(inputs)
    if nested:
        inner_in = keras.Input((4, 4, 3))
        x = keras.Model(inner_in, body(inner_in), name="backbone")(x)
    else:
        x = body(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, name="head")(x)
    return randomize(keras.Model(inputs, outputs), std=1)


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested-backbone"])
def test_corrected_copy_keeps_the_mean_output_and_rounds_every_kernel(nested: bool) -> None:
    model = _linear_model(nested)
    before = [w.copy() for w in model.get_weights()]
    calib = np.random.default_rng(1).uniform(0, 255, (64, 4, 4, 3)).astype(np.float32)
    corrected, report = bias_corrected_copy(model, calib)
    assert report.corrected == 4 and report.rounded_only == []
    for original, now in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(original, now)  # the float model is untouched

    leaves = {}

    def walk(m):
        for layer in m.layers:
            walk(layer) if hasattr(layer, "layers") else leaves.setdefault(layer.name, layer)

    walk(corrected)
    for name, axis in (("conv", -1), ("dw", 2), ("pw_bias", -1), ("head", -1)):
        kernel = leaves[name].get_weights()[0]
        np.testing.assert_array_equal(round_per_channel(kernel, axis), kernel)  # on the grid

    rounded = keras.models.clone_model(model)
    rounded.set_weights(model.get_weights())
    rounded_leaves = {}
    for layer in (rounded.get_layer("backbone").layers if nested else rounded.layers):
        rounded_leaves[layer.name] = layer
    rounded_leaves["head"] = rounded.get_layer("head")
    for name, axis in (("conv", -1), ("dw", 2), ("pw_bias", -1), ("head", -1)):
        layer = rounded_leaves[name]
        kernel, *rest = layer.get_weights()
        layer.set_weights([round_per_channel(kernel, axis), *rest])

    want = model.predict(calib, verbose=0).mean(axis=0)
    got = corrected.predict(calib, verbose=0).mean(axis=0)
    plain = rounded.predict(calib, verbose=0).mean(axis=0)
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, atol=2e-5 * scale)
    assert np.abs(plain - want).max() > 10 * np.abs(got - want).max()


def test_round_per_channel_is_symmetric_narrow_range() -> None:
    kernel = np.array([[1.0, -0.5], [0.25, 2.0], [-1.0, 0.001]], np.float32)
    rounded = round_per_channel(kernel, -1)
    steps = rounded / (np.abs(kernel).max(axis=0) / 127)
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-4)
    assert np.abs(steps).max() <= 127
    assert round_per_channel(np.zeros((2, 2), np.float32), 0).tolist() == [[0, 0], [0, 0]]


def test_layers_kept_float_keep_their_kernels_and_the_rest_is_corrected() -> None:
    """``keep_float`` (the int8 file's float stem) leaves those kernels and biases exactly as
    they are; every other kernel is still rounded and corrected."""
    model = _linear_model(nested=False)
    calib = np.random.default_rng(1).uniform(0, 255, (64, 4, 4, 3)).astype(np.float32)
    corrected, report = bias_corrected_copy(model, calib, keep_float={"conv", "bn"})
    assert report.corrected == 3
    np.testing.assert_array_equal(corrected.get_layer("conv").get_weights()[0],
                                  model.get_layer("conv").get_weights()[0])
    for original, now in zip(model.get_layer("bn").get_weights(),
                             corrected.get_layer("bn").get_weights(), strict=True):
        np.testing.assert_array_equal(original, now)
    for name, axis in (("dw", 2), ("pw_bias", -1), ("head", -1)):
        kernel = corrected.get_layer(name).get_weights()[0]
        np.testing.assert_array_equal(round_per_channel(kernel, axis), kernel)
    for name in ("pw_bias", "head"):  # (one weight per channel is exact in int8: dw)
        assert not np.array_equal(corrected.get_layer(name).get_weights()[0],
                                  model.get_layer(name).get_weights()[0])
