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

    def scopes(self) -> set[str]:
        """Every name scope of the (first fused) tensor name: the Keras layers it comes from
        (also without the ``_1`` the SavedModel's call adds)."""
        parts = [p for p in self.tensor.split(";")[0].split("/") if p]
        return set(parts) | {re.sub(r"_1$", "", p) for p in parts}

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


def first_ops(ops: list[LayerError], count: int,
              skip: frozenset[str] = frozenset()) -> list[LayerError]:
    """The first ``count`` of ``ops`` (in execution order), leaving out the ops of the Keras
    layers named in ``skip``; their ``tensor`` names are what the converter's
    ``denylisted_nodes`` takes (``convert_tflite(..., float_nodes=...)``)."""
    return [op for op in ops if not skip & op.scopes()][:count]
