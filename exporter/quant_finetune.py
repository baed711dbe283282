"""Quantization-aware fine-tuning by distillation (the int8 export's first step).

After bias correction (``exporter.bias_correction``) the int8 weights cost almost nothing
(int8 weights with float activations agree 99 % with the float model on the README recipe's
MobileNet); the rest of the full-integer loss is the int8 *activations*: every activation
tensor is rounded to 256 levels of one (scale, zero point) range. This step teaches the
weights to live with that rounding, as quantization-aware training does, and keeps the
answers of the float model by distilling them:

1. the ranges the converter will use are measured on the calibration images (min/max of
   every ReLU output, the pooled features and the logits, as TFLite's calibration does);
2. a copy of the model rounds exactly those tensors in its forward pass with TensorFlow's
   ``fake_quant_with_min_max_args`` (straight-through gradient inside the range), with every
   BatchNormalization in inference mode (the converter folds it into the convolution);
3. the copy is trained for a few epochs, at a small learning rate, to reproduce the float
   model's probabilities on unlabelled images (soft-target cross-entropy; the float
   model's own answers are the target, so no label and no held-out image is needed);
4. the trained weights go back into a plain copy of the architecture, which the int8
   conversion then calibrates and converts as usual (bias correction first).

TensorFlow Model Optimization's ``quantize_model`` does step 2 for ``tf_keras`` models only;
the run's model is a Keras 3 model, so the fake-quant rounding is placed here with the same
TensorFlow ops. The float model is not changed: every other format and the parity reference
use it. Measured in BENCHMARKS.md section 8.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from exporter.model_copy import copy_model, leaves, recreated

__all__ = ["FinetuneReport", "activation_ranges", "augmented", "distillation_set",
           "quantization_finetuned_copy"]

EPOCHS = 3
LEARNING_RATE = 1e-5
BATCH_SIZE = 32
TARGET_IMAGES = 4096  # distil on about this many images (augmented copies if fewer)
MAX_COPIES = 8


@dataclass
class FinetuneReport:
    """What the fine-tuning did: rounded tensors, images, epochs, the distillation loss."""

    rounded_tensors: int
    images: int
    epochs: int
    loss_first: float
    loss_last: float


def _is_relu(layer: Any) -> bool:
    """A ReLU layer, or a layer whose own ``activation`` is a ReLU (a convolution or dense
    layer the converter fuses with it: its output is the rounded tensor)."""
    import keras

    if isinstance(layer, keras.layers.ReLU):
        return True
    kinds = (keras.layers.Activation, keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
             keras.layers.Dense)
    return isinstance(layer, kinds) and layer.get_config().get("activation") in (
        "relu", "relu6")


def _is_softmax_dense(layer: Any) -> bool:
    import keras

    return isinstance(layer, keras.layers.Dense) and layer.get_config()["activation"] == "softmax"


def _rounded_layers(model: Any) -> list[Any]:
    """The layers whose output (for the softmax Dense: whose logits) int8 rounds and this
    module simulates."""
    import keras

    return [layer for layer in leaves(model)
            if _is_relu(layer) or _is_softmax_dense(layer)
            or isinstance(layer, keras.layers.GlobalAveragePooling2D)]


def _probe_output(model: Any, layer: Any, images: np.ndarray) -> np.ndarray:
    """``layer``'s output (for the softmax Dense: its logits) for ``images``."""
    from exporter.bias_correction import layer_input

    inputs = layer_input(model, layer, images)
    if _is_softmax_dense(layer):
        kernel, bias = layer.get_weights()
        return inputs @ kernel + bias
    return np.asarray(layer(inputs))


def activation_ranges(model: Any, calibration: np.ndarray) -> dict[str, tuple[float, float]]:
    """``{layer name: (min, max)}`` of every rounded tensor over ``calibration`` (float32
    model inputs), widened to contain 0 as the converter's ranges do."""
    ranges = {}
    for layer in _rounded_layers(model):
        out = _probe_output(model, layer, calibration)
        ranges[layer.name] = (min(float(out.min()), 0.0), max(float(out.max()), 0.0))
    return ranges


def _fake_quant(x: Any, lo: float, hi: float) -> Any:
    import tensorflow as tf

    if hi - lo < 1e-8:
        return x
    return tf.quantization.fake_quant_with_min_max_args(x, min=lo, max=hi, num_bits=8)


def _rounding_clone(model: Any, ranges: dict[str, tuple[float, float]],
                    logits: bool = False) -> Any:
    """A copy of ``model`` (same weights) whose rounded layers round their outputs, with
    Dropout removed and BatchNormalization in inference mode; with ``logits`` it ends with
    the rounded logits instead of their softmax."""
    import keras

    class RoundedOutput(keras.layers.Layer):
        """Runs ``inner`` (a ReLU, a layer with a ReLU activation, or a pooling layer) and
        rounds its output to int8."""

        def __init__(self, inner: Any, lo: float, hi: float, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.inner, self.lo, self.hi = inner, lo, hi

        def call(self, x: Any) -> Any:
            return _fake_quant(self.inner(x), self.lo, self.hi)

    class RoundedLogits(keras.layers.Dense):
        """A softmax Dense whose logits are rounded to int8 before the softmax."""

        def __init__(self, lo: float, hi: float, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.lo, self.hi = lo, hi

        def call(self, x: Any) -> Any:
            raw = keras.ops.matmul(x, self.kernel) + self.bias
            rounded = _fake_quant(raw, self.lo, self.hi)
            return rounded if logits else keras.ops.softmax(rounded)

    def clone(layer: Any) -> Any:
        if layer.name in ranges and _is_softmax_dense(layer):
            config = layer.get_config()
            config["activation"] = "linear"
            return RoundedLogits(*ranges[layer.name], **config)
        if layer.name in ranges:
            inner = layer.__class__.from_config({**layer.get_config(),
                                                 "name": f"{layer.name}_inner"})
            return RoundedOutput(inner, *ranges[layer.name], name=layer.name)
        if isinstance(layer, keras.layers.Dropout):  # match the float model's exact answers
            return keras.layers.Identity(name=layer.name)
        copy = recreated(layer)
        if isinstance(layer, keras.layers.BatchNormalization):
            copy.trainable = False  # inference mode: the converter folds the moving statistics
        return copy

    return copy_model(model, clone)


def augmented(images: np.ndarray, copies: int, seed: int = 0) -> np.ndarray:
    """``images`` followed by ``copies - 1`` randomly flipped and shifted copies (shifts up
    to 1/8 of the side, edges repeated): more distinct inputs to distil on when a run comes
    with few training images."""
    rng = np.random.default_rng(seed)
    out = [images]
    n, height, width = images.shape[:3]
    limit = max(1, height // 8)
    for _ in range(copies - 1):
        batch = np.where(rng.random(n)[:, None, None, None] < 0.5, images[:, :, ::-1], images)
        dy, dx = rng.integers(-limit, limit + 1, 2)
        rows = np.clip(np.arange(height) - dy, 0, height - 1)
        cols = np.clip(np.arange(width) - dx, 0, width - 1)
        out.append(batch[:, rows][:, :, cols])
    return np.concatenate(out)


def distillation_set(images: np.ndarray, target: int = TARGET_IMAGES, seed: int = 0) -> np.ndarray:
    """``images`` (raw training images), with augmented copies added up to about ``target``
    images (at most MAX_COPIES copies in all)."""
    copies = min(MAX_COPIES, max(1, -(-target // max(len(images), 1))))
    return augmented(images, copies, seed) if copies > 1 else images


def quantization_finetuned_copy(
    model: Any,
    images: np.ndarray,
    calibration: np.ndarray,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    epochs: int = EPOCHS,
    learning_rate: float = LEARNING_RATE,
    batch_size: int = BATCH_SIZE,
    seed: int = 0,
    mix: float = 0.0,
    unrounded: Collection[str] = (),
) -> tuple[Any, FinetuneReport]:
    """A plain copy of ``model`` fine-tuned to keep its answers under int8 activations (see
    the module docstring). ``images``: training images to distil on (never the images a gate
    or a test scores), turned into model inputs batch by batch by ``prepare`` (default: as
    float32); ``calibration``: the converter's calibration images (model inputs), for the
    ranges. ``mix``: the share of images replaced, batch by batch, by a random blend of two
    (mixup; the float model's answer for the blend is the target). The exporter keeps 0:
    over four seeds it moved agreement within the seed-to-seed spread (BENCHMARKS.md
    section 8). ``unrounded``: rounded layers (ReLUs) whose output the int8 file keeps float
    (inside the float stem), left unrounded."""
    import keras

    prepare = prepare or (lambda batch: np.asarray(batch, np.float32))
    keras.utils.set_random_seed(seed)
    ranges = {name: span for name, span in
              activation_ranges(model, np.asarray(calibration, np.float32)).items()
              if name not in unrounded}
    head = next((layer for layer in leaves(model) if _is_softmax_dense(layer)), None)
    if head is not None:  # match the logits: every class's score counts, not only the top
        def teacher(batch: np.ndarray) -> np.ndarray:
            return _probe_output(model, head, batch)

        if mix > 0:  # mixed batches ask for targets each step: one logits model, built once
            exact = _rounding_clone(model, {head.name: (0.0, 0.0)}, logits=True)  # unrounded

            def online(batch: np.ndarray) -> np.ndarray:
                return np.asarray(exact(batch, training=False))

        student = _rounding_clone(model, ranges, logits=True)
        loss: Any = keras.losses.MeanSquaredError()
    else:
        def teacher(batch: np.ndarray) -> np.ndarray:
            return np.asarray(model.predict(batch, batch_size=len(batch), verbose=0))

        student = _rounding_clone(model, ranges)
        loss = keras.losses.CategoricalCrossentropy()
    if mix == 0 or head is None:
        online = teacher
    chunk = 256
    targets = np.concatenate([np.asarray(teacher(prepare(images[i : i + chunk])), np.float32)
                              for i in range(0, len(images), chunk)])
    student.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    batches = _batches_class()(images, targets, prepare, batch_size, seed, mix, online)
    history = student.fit(batches, epochs=epochs, verbose=0)
    plain = copy_model(model)
    trained = {layer.name: layer for layer in leaves(student)}
    for layer in leaves(plain):
        if layer.weights:
            layer.set_weights(trained[layer.name].get_weights())
    losses = history.history["loss"]
    return plain, FinetuneReport(len(ranges), len(images), epochs, losses[0], losses[-1])


def _batches_class() -> type:
    import keras

    class Batches(keras.utils.PyDataset):
        """Shuffled (inputs, targets) batches; inputs prepared per batch, so a few thousand
        raw images never exist at once as float model inputs."""

        def __init__(self, images: np.ndarray, targets: np.ndarray,
                     prepare: Callable[[np.ndarray], np.ndarray], batch_size: int,
                     seed: int, mix: float, teacher: Callable[[np.ndarray], Any]) -> None:
            super().__init__()
            self.images, self.targets, self.prepare = images, targets, prepare
            self.mix, self.teacher = mix, teacher
            self.batch_size = batch_size
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(images))

        def __len__(self) -> int:
            return -(-len(self.images) // self.batch_size)

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            pick = np.sort(self.order[index * self.batch_size : (index + 1) * self.batch_size])
            x = np.asarray(self.prepare(self.images[pick]), np.float32)
            y = self.targets[pick]
            if self.mix > 0:
                rows = np.flatnonzero(self.rng.random(len(pick)) < self.mix)
                if len(rows):
                    partner = x[self.rng.permutation(len(pick))[rows]]
                    lam = self.rng.random(len(rows)).astype(np.float32)[:, None, None, None]
                    x = x.copy()
                    x[rows] = lam * x[rows] + (1 - lam) * partner
                    y = y.copy()
                    y[rows] = np.asarray(self.teacher(x[rows]), np.float32)
            return x, y

        def on_epoch_end(self) -> None:
            self.order = self.rng.permutation(len(self.images))

    return Batches
