"""TFLite variants of the ``serving_default`` signature and an ``ai_edge_litert`` runner.

Variants: ``float32`` (plain conversion), ``float16`` (float16 weights), ``dynamic`` (int8
weights, float activations) and ``int8`` (full integer with a representative dataset). The
int8 model has **uint8 input and uint8 output**: the input is the raw 0..255 pixel value
quantized with the model's (scale, zero_point) (scale 1, zero point 0 when the calibration
images span 0..255), and ``probabilities`` comes out quantized with scale 1/256.

Every file has one output, ``probabilities``: the top-k heads of the SavedModel (a string
tensor among them) are left out, because on-device classifiers (MediaPipe Tasks, the TFLite
Task Library) accept only float32/uint8 score tensors and do their own top-k with the labels
from the TFLite Metadata; the serving backend builds the top-k outputs from the probabilities.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from exporter.errors import ConversionError
from exporter.signatures import IMAGE_KEY

PRECISIONS = ("float32", "float16", "dynamic", "int8")
PROBABILITIES = "probabilities"


def _failing_ops(message: str) -> list[str]:
    """Operation names the converter complained about (e.g. ``tf.Foo``), if any."""
    return sorted(set(re.findall(r"'((?:tf|tfl|mhlo|stablehlo)\.[A-Za-z0-9_]+)'", message)))


def _probabilities_function(savedmodel_dir: Path) -> tuple[Any, Any]:
    """The SavedModel (kept alive: it owns the variables) and a concrete ``serving_default``
    that maps ``image`` to ``probabilities`` only."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(savedmodel_dir))
    signature = loaded.signatures["serving_default"]
    spec = signature.structured_input_signature[1][IMAGE_KEY]

    @tf.function(input_signature=[tf.TensorSpec(spec.shape, spec.dtype, name=IMAGE_KEY)])
    def serving_default(image: Any) -> dict[str, Any]:
        return {PROBABILITIES: signature(image=image)[PROBABILITIES]}

    return loaded, serving_default.get_concrete_function()


def require_calibration(calibration: np.ndarray | None) -> None:
    """int8 cannot be built without calibration images: ``ConversionError`` saying so."""
    if calibration is None or len(calibration) == 0:
        raise ConversionError("tflite int8 needs calibration images (--calibration-data)")


def int8_converter(
    savedmodel_dir: Path, calibration: np.ndarray | None, float_io: bool = False
) -> tuple[Any, Any]:
    """A full-integer converter (uint8 input and output unless ``float_io``) calibrated on
    ``calibration`` float32 ``(N, S, S, 3)``, and the loaded SavedModel it needs alive."""
    import tensorflow as tf

    require_calibration(calibration)
    samples = np.asarray(calibration, dtype=np.float32)
    loaded, function = _probabilities_function(savedmodel_dir)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], loaded)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]

    def representative_dataset() -> Any:
        for i in range(len(samples)):
            yield {IMAGE_KEY: samples[i : i + 1]}

    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    return converter, loaded


FloatNodes = Callable[[Any], Sequence[str]]  # the run QuantizationDebugger -> tensor names


def _convert(
    converter: Any, float_ops: tuple[str, ...] = (), samples: np.ndarray | None = None,
    float_nodes: FloatNodes | None = None,
) -> bytes:
    import tensorflow as tf

    with warnings.catch_warnings():
        # int8 calibration runs TF's own (deprecated) interpreter internally
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        if not float_ops and float_nodes is None:
            return converter.convert()
        uint8_io = converter.inference_input_type == tf.uint8  # the debugger resets it
        # selective quantization: these op types stay float between (de)quantize ops
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS,
        ]
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(float_ops))
        probe = np.asarray(samples, np.float32)[:4]  # the debugger wants a debug dataset

        debugger = tf.lite.experimental.QuantizationDebugger(  # calibrates, once
            converter=converter,
            debug_dataset=lambda: ([probe[i : i + 1]] for i in range(len(probe))),
            debug_options=options,
        )
        if float_nodes is not None:  # name the ops from this debugger's own run
            debugger.run()
            debugger.options = tf.lite.experimental.QuantizationDebugOptions(
                denylisted_ops=list(float_ops), denylisted_nodes=list(float_nodes(debugger)))
        model = debugger.get_nondebug_quantized_model()  # float32 I/O at this point
        if uint8_io:
            # the same uint8 input/output as plain int8 (the converter's own helper)
            from tensorflow.lite.python.util import modify_model_io_type

            model = modify_model_io_type(model, tf.uint8, tf.uint8)
        return model


def convert_tflite(
    savedmodel_dir: Path,
    precision: str,
    calibration: np.ndarray | None = None,
    float_ops: tuple[str, ...] = (),
    float_nodes: FloatNodes | None = None,
) -> bytes:
    """Convert ``serving_default`` of the SavedModel to a TFLite flatbuffer.

    ``calibration`` (float32 ``(N, S, S, 3)``) is required for ``int8``; ``float_ops`` (TFLite
    op names such as ``DEPTHWISE_CONV_2D``) stay float in the int8 file, and so do the ops
    ``float_nodes`` picks: it gets the same calibration's ``QuantizationDebugger`` after its
    ``run()`` (``exporter.quant_debug.debugger_errors`` reads its ops in execution order) and
    returns the tensor names to keep float. Raises
    ``ConversionError`` naming the variant and the unconvertible ops when known.
    """
    import tensorflow as tf

    if precision not in PRECISIONS:
        raise ConversionError(f"unknown TFLite precision {precision!r}; accepted: {PRECISIONS}")
    if precision == "int8":
        converter, loaded = int8_converter(savedmodel_dir, calibration)
    else:
        loaded, function = _probabilities_function(savedmodel_dir)
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function], loaded)
    if precision in ("float16", "dynamic"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "float16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        if precision == "int8" and (float_ops or float_nodes is not None):
            return _convert(converter, float_ops, calibration, float_nodes)
        return _convert(converter)
    except Exception as exc:  # ConverterError and friends
        text = str(exc)
        ops = _failing_ops(text)
        if ops:
            raise ConversionError(
                f"TFLite {precision} conversion failed (unsupported op: {', '.join(ops)}); "
                "the model must use TFLite builtin ops only"
            ) from exc
        first = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
        raise ConversionError(f"TFLite {precision} conversion failed: {first}") from exc


def _quantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    dtype = detail["dtype"]
    if dtype == np.float32:
        return x.astype(np.float32)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    q = np.round(x / scale + zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def _dequantize(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if y.dtype in (np.uint8, np.int8, np.int16) and scale:
        return ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)
    return y


class TFLiteRunner:
    """Runs a TFLite file's ``serving_default`` with ``ai_edge_litert``; quantized inputs and
    outputs are (de)quantized with the file's own parameters."""

    def __init__(self, path: Path, num_threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self._interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        self._runner = self._interpreter.get_signature_runner("serving_default")
        self.input_details = self._runner.get_input_details()
        self.output_details = self._runner.get_output_details()

    def outputs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """All outputs (dequantized) for float32 pixels ``x`` ``(N, S, S, 3)``."""
        raw = self._runner(**{IMAGE_KEY: _quantize(x, self.input_details[IMAGE_KEY])})
        return {name: _dequantize(v, self.output_details[name]) for name, v in raw.items()}

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities float32 ``(N, C)``."""
        return self.outputs(x)["probabilities"].astype(np.float32)

    def describe(self) -> dict[str, Any]:
        """Input/output names, dtypes, shapes, quantization (scale, zero_point) and the
        file's TFLite Metadata (None when it has none)."""

        def one(detail: dict[str, Any]) -> dict[str, Any]:
            scale, zero_point = detail["quantization"]
            dtype = np.dtype(detail["dtype"])
            return {
                "dtype": "string" if dtype.kind in "SUO" else dtype.name,
                "shape": [int(d) for d in detail["shape_signature"]],
                "quantization": {"scale": float(scale), "zero_point": int(zero_point)}
                if scale
                else None,
            }

        from exporter.tflite_metadata import summarize

        return {
            "inputs": {name: one(d) for name, d in self.input_details.items()},
            "outputs": {name: one(d) for name, d in sorted(self.output_details.items())},
            "tflite_metadata": summarize(self.path.read_bytes()),
        }
