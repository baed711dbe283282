"""Shared by the int8 study scripts: convert a prepared Keras model to a full-integer int8
file the way the exporter does (bias correction, then conversion) and read its top-1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def corrected_int8_top1(model: Any, image_size: int, labels: tuple[str, ...],
                        calib: np.ndarray, x: np.ndarray, target: Path,
                        float_ops: tuple[str, ...] = ()) -> np.ndarray:
    """Bias-correct ``model``, convert it to ``target/model_int8.tflite`` (calibrated on
    ``calib``; ``float_ops`` kept float) and return LiteRT's top-1 class for ``x``."""
    from exporter.bias_correction import bias_corrected_copy
    from exporter.savedmodel import write_savedmodel
    from exporter.tflite_export import TFLiteRunner, convert_tflite

    corrected, _ = bias_corrected_copy(model, calib)
    target.mkdir(parents=True)
    write_savedmodel(corrected, image_size, labels, 5, target)
    path = target / "model_int8.tflite"
    path.write_bytes(convert_tflite(target, "int8", calib, float_ops))
    runner = TFLiteRunner(path)
    return np.concatenate([runner.predict(x[i : i + 50]) for i in range(0, len(x), 50)]).argmax(1)
