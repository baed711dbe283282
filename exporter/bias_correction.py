"""Bias correction for int8 weights (the int8 TFLite export's first step).

TFLite's full-integer conversion rounds every convolution and dense kernel to int8 per output
channel. Rounding errors do not average out: they shift each channel's mean output, and the
shifts add up through a deep network (on the README recipe's MobileNet α0.25, rounding the
weights alone moves 4 % of the top-1 answers). Bias correction (Nagel et al., "Data-Free
Quantization Through Weight Equalization and Bias Correction", 2019) removes that shift: for
each layer in network order, with every earlier layer already corrected, the kernel is
replaced by its int8-rounded copy ``Wq`` and the expected error ``(W - Wq) · E[x]`` (``E[x]``
per input channel, from calibration images) is added back to the layer's bias, or subtracted
from the moving mean of the BatchNormalization that follows a bias-free convolution.

The corrected copy's kernels already lie on the int8 grid the converter uses (per-channel
symmetric rounding is unchanged by the BatchNormalization scale the converter folds in), so
the converter keeps the rounded values and the corrected biases. The float model is not
touched: every other format and the parity reference use it. Measured in BENCHMARKS.md
section 8.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exporter.model_copy import copy_model, leaves

__all__ = ["CorrectionReport", "bias_corrected_copy", "layer_input", "round_per_channel"]

BITS = 8
MAX_SAMPLES = 128  # E[x] per channel is stable well before this (64 gave the same agreement)


@dataclass
class CorrectionReport:
    """How many kernels were rounded and corrected, and which could not be corrected."""

    corrected: int = 0
    rounded_only: list[str] = field(default_factory=list)


def round_per_channel(kernel: np.ndarray, axis: int, bits: int = BITS) -> np.ndarray:
    """Symmetric per-channel rounding to ``bits`` (TFLite's int8 weights: narrow range
    ±127, one scale per channel along ``axis``), returned as float."""
    qmax = 2 ** (bits - 1) - 1
    others = tuple(i for i in range(kernel.ndim) if i != axis % kernel.ndim)
    scale = np.abs(kernel).max(axis=others, keepdims=True) / qmax
    scale = np.where(scale == 0, 1.0, scale)
    return (np.round(kernel / scale) * scale).astype(kernel.dtype)


def _following_batchnorm(layer: Any, candidates: list[Any]) -> Any | None:
    """The BatchNormalization that reads ``layer``'s output directly, if any."""
    import keras

    for other in candidates:
        if isinstance(other, keras.layers.BatchNormalization):
            try:
                if other.input is layer.output:
                    return other
            except (AttributeError, ValueError):  # a layer used more than once
                continue
    return None


def _kernel_error(layer: Any, kernel: np.ndarray, rounded: np.ndarray,
                  mean_in: np.ndarray) -> np.ndarray:
    """``(W - Wq) · E[x]`` per output channel (spatially uniform ``E[x]``)."""
    import keras

    diff = kernel - rounded
    if isinstance(layer, keras.layers.DepthwiseConv2D):  # (kh, kw, C, multiplier)
        per = diff * mean_in[None, None, :, None]
        return per.sum(axis=(0, 1)).reshape(-1)
    if isinstance(layer, keras.layers.Dense):  # (in, out)
        return mean_in @ diff
    return np.einsum("hwio,i->o", diff, mean_in)  # Conv2D (kh, kw, in, out)


def bias_corrected_copy(model: Any, calibration: np.ndarray,
                        keep_float: Collection[str] = ()) -> tuple[Any, CorrectionReport]:
    """A copy of ``model`` whose Conv2D, DepthwiseConv2D and Dense kernels are rounded to
    int8 per output channel, with the rounding's mean error corrected (see the module
    docstring); the layers named in ``keep_float`` (the ops the conversion keeps float) keep
    their float kernels. ``calibration``: float32 model inputs ``(N, S, S, 3)``."""
    import keras

    copy = copy_model(model)
    samples = np.asarray(calibration, np.float32)[:MAX_SAMPLES]
    all_leaves = leaves(copy)
    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
    targets = [layer for layer in all_leaves
               if isinstance(layer, kinds) and layer.name not in keep_float]
    report = CorrectionReport()
    for layer in targets:
        kernel, *rest = layer.get_weights()
        depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
        rounded = round_per_channel(kernel, 2 if depthwise else -1)
        batchnorm = None if layer.use_bias else _following_batchnorm(layer, all_leaves)
        if not layer.use_bias and batchnorm is None:
            layer.set_weights([rounded, *rest])
            report.rounded_only.append(layer.name)
            continue
        # E[x] of this layer's input, with every earlier layer already rounded and corrected
        inputs = layer_input(copy, layer, samples)
        mean_in = inputs.reshape(-1, inputs.shape[-1]).mean(axis=0)
        error = _kernel_error(layer, kernel, rounded, mean_in)
        if layer.use_bias:
            layer.set_weights([rounded, rest[0] + error.astype(rest[0].dtype), *rest[1:]])
        else:
            layer.set_weights([rounded, *rest])
            gamma_beta = batchnorm.get_weights()
            names = [w.path.rsplit("/", 1)[-1] for w in batchnorm.weights]
            mean_at = names.index("moving_mean")
            gamma_beta[mean_at] = gamma_beta[mean_at] - error.astype(gamma_beta[mean_at].dtype)
            batchnorm.set_weights(gamma_beta)
        report.corrected += 1
    return copy, report


def _run(model: Any, data: np.ndarray, batch: int = 32) -> np.ndarray:
    """``model`` called eagerly on ``data`` in batches: a sub-model used once is not worth
    ``predict``'s graph tracing (a deep backbone has one per layer)."""
    return np.concatenate([np.asarray(model(data[i : i + batch], training=False))
                           for i in range(0, len(data), batch)])


def layer_input(model: Any, layer: Any, data: np.ndarray) -> np.ndarray:
    """``layer``'s input for ``data`` fed to ``model`` (through nested functional models)."""
    import keras

    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    for outer in model.layers:
        if outer is layer:
            return _run(keras.Model(inputs, layer.input), data)
        if hasattr(outer, "layers") and any(leaf is layer for leaf in leaves(outer)):
            feeding = [node.input_tensors for node in outer._inbound_nodes]
            if len(feeding) != 1 or len(feeding[0]) != 1:
                raise ValueError(f"{outer.name} is called more than once or on several inputs")
            outer_in = _run(keras.Model(inputs, feeding[0][0]), data)
            return layer_input(outer, layer, outer_in)
    raise ValueError(f"layer {layer.name} is not part of the model")
