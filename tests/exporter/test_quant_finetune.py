"""Quantization-aware fine-tuning by distillation (``exporter.quant_finetune``) on tiny models."""

from __future__ import annotations

import numpy as np
import pytest

from exporter.quant_finetune import _rounding_clone, activation_ranges, quantization_finetuned_copy
from tests.exporter.random_weights import randomize

keras = pytest.importorskip("keras")


def _model(nested: bool) -> keras.Model:
    def body(x):
        x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv")(x)
        x = keras.layers.BatchNormalization(name="bn")(x)
        x = keras.layers.ReLU(6.0, name="relu")(x)
        x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
        x = keras.layers.BatchNormalization(name="dw_bn")(x)
        return keras.layers.ReLU(6.0, name="dw_relu")(x)

    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="scale")(inputs)
    if nested:
        inner_in = keras.Input((8, 8, 3))
        x = keras.Model(inner_in, body(inner_in), name="backbone")(x)
    else:
        x = body(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(4, activation="softmax", name="head")(x)
    return randomize(keras.Model(inputs, outputs), std=0.5)


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, 8, 8, 3)).astype(np.float32)


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested-backbone"])
def test_ranges_cover_every_rounded_tensor(nested: bool) -> None:
    model = _model(nested)
    calib = _images(32, 1)
    ranges = activation_ranges(model, calib)
    assert set(ranges) == {"relu", "dw_relu", "pool", "head"}
    for name in ("relu", "dw_relu"):
        lo, hi = ranges[name]
        assert lo == 0.0 and 0.0 < hi <= 6.0
    # the logits' range: the Dense output before its softmax
    features = keras.Model(model.inputs, model.get_layer("pool").output).predict(calib, verbose=0)
    kernel, bias = model.get_layer("head").get_weights()
    logits = features @ kernel + bias
    assert ranges["head"] == pytest.approx((min(logits.min(), 0), max(logits.max(), 0)), rel=1e-5)


def test_the_rounding_clone_rounds_to_256_levels_and_keeps_weights() -> None:
    model = _model(nested=True)
    calib = _images(32, 1)
    ranges = activation_ranges(model, calib)
    rounded = _rounding_clone(model, ranges)
    for a, b in zip(model.get_weights(), rounded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # the pooled features come out on a grid of (hi - lo) / 255
    probe = keras.Model(rounded.inputs, rounded.get_layer("pool").output)
    pooled = probe.predict(calib, verbose=0)
    lo, hi = ranges["pool"]
    step = (hi - lo) / 255
    levels = (pooled - pooled.min()) / step
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-2)
    want = model.predict(calib, verbose=0)
    got = rounded.predict(calib, verbose=0)
    assert not np.array_equal(want, got)  # it rounds ...
    np.testing.assert_allclose(got, want, atol=0.1)  # ... but only by a rounding step


@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested-backbone"])
def test_finetuned_copy_is_plain_trained_and_leaves_the_float_model(nested: bool) -> None:
    model = _model(nested)
    before = [w.copy() for w in model.get_weights()]
    raw = _images(64, 2).astype(np.uint8)
    prepared = []

    def prepare(batch: np.ndarray) -> np.ndarray:
        prepared.append(len(batch))
        return batch.astype(np.float32)

    tuned, report = quantization_finetuned_copy(model, raw, _images(32, 1), prepare,
                                                epochs=3, learning_rate=1e-3, batch_size=16)
    assert max(prepared) <= 64 and sum(prepared) >= 64 + 3 * 64  # teacher pass + 3 epochs
    for original, now in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(original, now)  # the float model is untouched
    assert [type(layer) for layer in tuned.layers] == [type(layer) for layer in model.layers]
    assert report.rounded_tensors == 4 and report.images == 64 and report.epochs == 3
    assert np.isfinite(report.loss_last) and report.loss_last < report.loss_first
    changed = [not np.array_equal(a, b)
               for a, b in zip(before, tuned.get_weights(), strict=True)]
    assert any(changed)
    # BatchNormalization ran in inference mode: its moving statistics are unchanged
    names = [w.path for w in model.weights]
    for name, a, b in zip(names, before, tuned.get_weights(), strict=True):
        if "moving_" in name:
            np.testing.assert_array_equal(a, b)



def test_distillation_set_adds_flipped_and_shifted_copies_up_to_the_target() -> None:
    from exporter.quant_finetune import distillation_set

    images = np.random.default_rng(4).integers(0, 256, (10, 16, 16, 3)).astype(np.uint8)
    out = distillation_set(images, target=35, seed=0)
    assert out.shape == (40, 16, 16, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:10], images)  # the originals first
    assert not np.array_equal(out[10:20], images)  # then altered copies
    assert distillation_set(images, target=5) is images  # enough images: unchanged
    assert len(distillation_set(images, target=10_000)) == 80  # at most 8 copies


def test_mixed_batches_blend_pairs_and_ask_the_teacher_for_their_targets() -> None:
    from exporter.quant_finetune import _batches_class

    images = np.random.default_rng(5).integers(0, 256, (40, 4, 4, 3)).astype(np.uint8)
    targets = np.zeros((40, 1), np.float32)  # what the unmixed images would get

    def teacher(x: np.ndarray) -> np.ndarray:
        return x.mean(axis=(1, 2, 3))[:, None] + 1000.0

    def prepare(batch: np.ndarray) -> np.ndarray:
        return batch.astype(np.float32)

    plain = _batches_class()(images, targets, prepare, 8, 0, 0.0, teacher)
    x, y = plain[0]
    assert not y.any() and set(map(bytes, x.astype(np.uint8))) <= set(map(bytes, images))
    mixed = _batches_class()(images, targets, prepare, 8, 0, 1.0, teacher)
    for index in range(len(mixed)):
        x, y = mixed[index]
        np.testing.assert_allclose(y, teacher(x), rtol=1e-6)  # every target is the teacher's
        lo, hi = images.min(0).astype(np.float32), images.max(0).astype(np.float32)
        assert np.all(x >= lo - 1e-3) and np.all(x <= hi + 1e-3)  # convex blends
    x, _ = mixed[0]
    assert not set(map(bytes, x.astype(np.float32))) <= {
        bytes(im.astype(np.float32)) for im in images}  # not the originals


def test_unrounded_layers_are_left_out_of_the_rounding() -> None:
    """The outputs the int8 file keeps float (inside its float stem) are not rounded while
    fine-tuning; the others still are."""
    model = _model(nested=False)
    _, report = quantization_finetuned_copy(model, _images(32, 2), _images(32, 1),
                                            epochs=1, unrounded={"relu", "conv"})
    assert report.rounded_tensors == 3  # dw_relu, pool, head


def test_a_relu_fused_into_its_layer_is_rounded_too() -> None:
    """``Conv2D(activation="relu")`` / ``Dense(activation="relu6")``: the converter fuses
    the ReLU and rounds the layer's output, so the fine-tuning rounds it too; the trained
    weights come back into a plain copy."""
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="scale")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(8, activation="relu6", name="hidden")(x)
    outputs = keras.layers.Dense(4, activation="softmax", name="head")(x)
    model = randomize(keras.Model(inputs, outputs), std=0.5)
    calib = _images(32, 1)
    assert set(activation_ranges(model, calib)) == {"conv", "pool", "hidden", "head"}
    rounded = _rounding_clone(model, activation_ranges(model, calib))
    probe = keras.Model(rounded.inputs, rounded.get_layer("conv").output)
    lo, hi = activation_ranges(model, calib)["conv"]
    levels = probe.predict(calib, verbose=0) / ((hi - lo) / 255)
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-2)  # on the int8 grid
    tuned, report = quantization_finetuned_copy(model, _images(64, 2), calib, epochs=2,
                                                learning_rate=1e-3, batch_size=16)
    assert report.rounded_tensors == 4
    assert [type(layer) for layer in tuned.layers] == [type(layer) for layer in model.layers]
    assert not np.array_equal(tuned.get_layer("conv").get_weights()[0],
                              model.get_layer("conv").get_weights()[0])
