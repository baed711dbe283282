"""Which layers lose the most under full-integer quantization (TFLite's quantization debugger).

``worst_layers`` runs ``tf.lite.experimental.QuantizationDebugger`` on the probabilities-only
``serving_default`` of a SavedModel: for every quantized op it compares the op's int8 output
with the float op run on the same (dequantized) inputs and reports the root-mean-square error
in units of the output's quantization step (``rmse/scale``; pure rounding gives about 0.29).
The int8 gate names the worst of them when it refuses a file; ``first_ops`` names the ops the
exporter keeps float at the start of the int8 file (docs/exporter.md, "int8").
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LayerError:
    """One quantized op: its output tensor, op type and error in quantization steps."""

    tensor: str
    op: str
    rmse_over_scale: float

    @property
    def layer(self) -> str:
        """A readable layer name (``conv_pw_13``) from the fused tensor name."""
        first = self.tensor.split(";")[0]
        parts = [p for p in first.split("/") if p]
        name = parts[-2] if len(parts) >= 2 else first
        name = re.sub(r"_1$", "", name)
        return re.sub(r"_(relu|bn)$", "", name)

    def layers(self, names: Collection[str]) -> frozenset[str]:
        """The Keras layers among ``names`` fused into this op: every name scope of every
        fused part of the tensor name, matched without the ``_N`` the SavedModel's call adds
        to each layer's scope (``conv2d`` runs as ``conv2d_1``, ``conv2d_1`` as
        ``conv2d_1_2``), else as it is."""
        found = set()
        for part in self.tensor.split(";"):
            for scope in (p for p in part.split("/") if p):
                called = re.fullmatch(r"(.+)_\d+", scope)
                if called and called.group(1) in names:
                    found.add(called.group(1))
                elif scope in names:
                    found.add(scope)
        return frozenset(found)

    def describe(self) -> str:
        """``conv_pw_13 (CONV_2D, rmse 4.1 steps)``."""
        return f"{self.layer} ({self.op}, rmse {self.rmse_over_scale:.1f} steps)"


def layer_errors(converter: Any, samples: np.ndarray, ordered: bool = False) -> list[LayerError]:
    """Per-op errors of ``converter`` (already set up for int8 with a representative
    dataset) on ``samples`` float32 ``(N, S, S, 3)``, worst first (``ordered``: in the
    order the ops run)."""
    import tensorflow as tf

    def dataset() -> Any:
        for i in range(len(samples)):
            yield [samples[i : i + 1]]

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=dataset
        )
        debugger.run()
    errors = debugger_errors(debugger)
    return errors if ordered else sorted(errors, key=lambda e: -e.rmse_over_scale)


def debugger_errors(debugger: Any) -> list[LayerError]:
    """The per-op errors of a ``QuantizationDebugger`` after its ``run()``, in the order the
    ops run (the order of its statistics dump)."""
    text = io.StringIO()
    debugger.layer_statistics_dump(text)
    text.seek(0)
    errors = []
    for row in csv.DictReader(text):
        scale = float(row["scale"])
        if scale > 0:
            rmse = float(np.sqrt(float(row["mean_squared_error"])))
            errors.append(LayerError(row["tensor_name"], row["op_name"], rmse / scale))
    return errors


def worst_layers(
    savedmodel_dir: Path, calibration: np.ndarray, count: int = 3, samples: int = 32
) -> list[LayerError]:
    """The ``count`` ops with the largest int8 error for the SavedModel's classifier."""
    from exporter.tflite_export import int8_converter

    converter, _keep = int8_converter(savedmodel_dir, calibration, float_io=True)
    step = max(1, len(calibration) // samples)
    return layer_errors(converter, np.asarray(calibration, np.float32)[::step][:samples])[:count]


def quantized_ops(savedmodel_dir: Path, calibration: np.ndarray,
                  samples: int = 8) -> list[LayerError]:
    """Every quantized op of the SavedModel's int8 conversion, in execution order. Which ops
    there are does not depend on the calibration, so a few images do."""
    from exporter.tflite_export import int8_converter

    images = np.asarray(calibration, np.float32)[:samples]
    converter, _keep = int8_converter(savedmodel_dir, images, float_io=True)
    return layer_errors(converter, images, ordered=True)


@dataclass(frozen=True)
class FloatStem:
    """The first ops of an int8 file kept float, in Keras terms for the preparation:
    ``layers``, every layer fused into them (their kernels are not rounded to int8);
    ``float_outputs``, the layers fused into all but the last op (their outputs reach the
    next op unrounded; the last op's output is quantized for the int8 op after it)."""

    ops: tuple[LayerError, ...]
    layers: frozenset[str]
    float_outputs: frozenset[str]

    def describe(self) -> list[str]:
        """``["conv1 (CONV_2D)", ...]``."""
        return [f"{op.layer} ({op.op})" for op in self.ops]


def float_stem(ops: list[LayerError], count: int, skip: frozenset[str],
               names: Collection[str]) -> FloatStem:
    """The first ``count`` of ``ops`` after the ops of the layers in ``skip`` (``first_ops``),
    but at most half of those ops (a stem: the rest of the file, its output too, stays
    int8), with the Keras layers among ``names`` they stand for."""
    candidates = first_ops(ops, len(ops), skip)
    chosen = candidates[: min(count, len(candidates) // 2)]
    fused = [op.layers(names) for op in chosen]
    return FloatStem(tuple(chosen), frozenset().union(*fused),
                     frozenset().union(*fused[:-1]))


def first_ops(ops: list[LayerError], count: int,
              skip: frozenset[str] = frozenset()) -> list[LayerError]:
    """The first ``count`` of ``ops`` (in execution order), leaving out the ops of the Keras
    layers named in ``skip``; their ``tensor`` names are what the converter's
    ``denylisted_nodes`` takes (``convert_tflite(..., float_nodes=...)``)."""
    return [op for op in ops if not op.layers(skip)][:count]
