"""TFLite backend (``model_platform: "tflite"``): ``model.tflite`` through LiteRT.

``model_platform: "tflite:VARIANT"`` (``--tflite_variant``) serves ``model_VARIANT.tflite``
(float16, dynamic, int8) instead. A quantized (uint8/int8) input or output is presented as
float32: float pixels are quantized with the file's own (scale, zero_point) on the way in and
outputs are dequantized on the way out, so clients send the same requests as for the float
model and get float ``probabilities``.

An interpreter is not thread-safe, so each worker thread gets its own (``threading.local``),
built from the model bytes read once at load. The batch dimension is resized per call. Each
interpreter runs on ``--tensorflow_intra_op_parallelism`` threads, by default 1: the
inference pool already runs one call per core.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from serving.backends.model_file import ModelFileBackend
from serving.backends.signature_io import TensorSpec, numpy_to_dt
from serving.errors import FailedPrecondition, InvalidArgument

__all__ = ["TFLiteBackend"]


VARIANT_FILES = {
    "float32": "model.tflite",
    "float16": "model_float16.tflite",
    "dynamic": "model_dynamic.tflite",
    "int8": "model_int8.tflite",
}


def _quantization(detail: dict) -> tuple[float, int, np.dtype] | None:
    """(scale, zero_point, dtype) of an integer-quantized tensor, else None."""
    scale, zero_point = detail.get("quantization", (0.0, 0))
    dtype = np.dtype(detail["dtype"])
    if scale and dtype in (np.uint8, np.int8, np.int16):
        return float(scale), int(zero_point), dtype
    return None


def _spec(detail: dict) -> TensorSpec:
    shape = detail.get("shape_signature")
    if shape is None or len(shape) == 0 and len(detail["shape"]):
        shape = detail["shape"]
    dtype = np.float32 if _quantization(detail) else detail["dtype"]
    return TensorSpec(detail["name"], numpy_to_dt(dtype), tuple(int(d) for d in shape))


def _quantize(value: np.ndarray, quant: tuple[float, int, np.dtype]) -> np.ndarray:
    scale, zero_point, dtype = quant
    info = np.iinfo(dtype)
    q = np.round(np.asarray(value, np.float32) / scale + zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def _dequantize(value: np.ndarray, quant: tuple[float, int, np.dtype] | None) -> np.ndarray:
    if quant is None:
        return value
    scale, zero_point, _ = quant
    return ((value.astype(np.float32) - zero_point) * scale).astype(np.float32)


class _Worker:
    """One thread's interpreter plus the input shapes it is currently allocated for."""

    def __init__(self, content: bytes, num_threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.num_threads = num_threads
        self.interpreter = Interpreter(model_content=content, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.shapes: dict[int, tuple[int, ...]] = {}


class TFLiteBackend(ModelFileBackend):
    """Serves ``model.tflite`` (the contract's TFLite file) or one quantized variant
    (``model_VARIANT.tflite``) with one interpreter per thread."""

    platform = "tflite"
    file_format = "tflite"

    def __init__(self, variant: str = "float32") -> None:
        super().__init__()
        if variant not in VARIANT_FILES:
            raise InvalidArgument(
                f"unknown TFLite variant {variant!r}; accepted: {', '.join(VARIANT_FILES)}"
            )
        self.variant = variant
        self._quant: dict[int, tuple[float, int, np.dtype] | None] = {}
        self._content: bytes | None = None
        self._local = threading.local()
        self._inputs: dict[str, tuple[int, TensorSpec]] = {}
        self._outputs: dict[str, tuple[int, TensorSpec]] = {}

    def _open(self, path: Path) -> None:
        content = path.read_bytes()
        probe = _Worker(content).interpreter
        runners = probe.get_signature_list()
        if runners:  # signature keys are the model's own aliases (e.g. image -> probabilities)
            key = "serving_default" if "serving_default" in runners else sorted(runners)[0]
            runner = probe.get_signature_runner(key)
            in_details = runner.get_input_details().items()
            out_details = runner.get_output_details().items()
        else:
            in_details = ((d["name"], d) for d in probe.get_input_details())
            out_details = ((d["name"], d) for d in probe.get_output_details())
        in_details, out_details = list(in_details), list(out_details)
        self._inputs = {alias: (d["index"], _spec(d)) for alias, d in in_details}
        self._outputs = {alias: (d["index"], _spec(d)) for alias, d in out_details}
        self._quant = {d["index"]: _quantization(d) for _, d in [*in_details, *out_details]}
        self._content = content

    def _model_io(self) -> tuple[dict[str, TensorSpec], dict[str, TensorSpec]]:
        return (
            {alias: spec for alias, (_, spec) in self._inputs.items()},
            {alias: spec for alias, (_, spec) in self._outputs.items()},
        )

    def _model_file(self, contract) -> str:
        """``model.tflite`` (or the contract's file) for float32, else the variant's file."""
        if self.variant == "float32":
            return super()._model_file(contract)
        return VARIANT_FILES[self.variant]

    def _worker(self) -> _Worker:
        worker = getattr(self._local, "worker", None)
        if worker is None:
            if self._content is None:
                raise FailedPrecondition("model version is unloaded")
            worker = self._local.worker = _Worker(self._content, self.threads.intra_op or 1)
        return worker

    def _run(self, feeds: Mapping[str, np.ndarray], outputs: Sequence[str]) -> list[np.ndarray]:
        worker = self._worker()
        interpreter = worker.interpreter
        try:
            resized = False
            for alias, value in feeds.items():
                index = self._inputs[alias][0]
                if worker.shapes.get(index) != value.shape:
                    interpreter.resize_tensor_input(index, list(value.shape), strict=True)
                    worker.shapes[index] = value.shape
                    resized = True
            if resized:
                interpreter.allocate_tensors()
            for alias, value in feeds.items():
                index = self._inputs[alias][0]
                quant = self._quant.get(index)
                if quant is not None:
                    value = _quantize(value, quant)
                interpreter.set_tensor(index, np.ascontiguousarray(value))
            interpreter.invoke()
            return [
                _dequantize(interpreter.get_tensor(index), self._quant.get(index))
                for index in (self._outputs[alias][0] for alias in outputs)
            ]
        except (ValueError, RuntimeError) as exc:
            worker.shapes.clear()  # force a fresh resize on the next call
            message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InvalidArgument(message) from None

    def unload(self) -> None:
        """Drop the model bytes; per-thread interpreters die with this backend."""
        super().unload()
        self._content = None
