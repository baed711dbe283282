"""ONNX backend (``model_platform: "onnx"``): ``model.onnx`` through onnxruntime.

One session per version, shared by all worker threads (``InferenceSession.run`` is
thread-safe), with intra-op threads = ``--tensorflow_intra_op_parallelism`` or, by default,
1, as for TFLite: the inference pool already runs one call per core, and on 2 cores a call
split over 2 threads costs 1.6x the CPU per image of a single-threaded one at batch 1 (and is
slower: 0.63 vs 0.52 ms) and 1.1x at batch 16 (MobileNet α0.25, BENCHMARKS.md section 6c),
CPU the event loop needs under load. A lone large batch is faster with more threads
(5.7 vs 8.5 ms at batch 16): the flag sets them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serving.backends.model_file import ModelFileBackend
from serving.backends.signature_io import DT, TensorSpec
from serving.errors import InvalidArgument

__all__ = ["OnnxBackend"]

# onnxruntime's intra-op threads busy-wait after each run by default; on a machine whose cores
# the server's event loop (JSON parsing) and other work share, that spinning takes their CPU.
INTRA_OP_SPINNING = "0"

_ORT_TYPES = {
    "tensor(float)": DT.FLOAT,
    "tensor(double)": DT.DOUBLE,
    "tensor(int32)": DT.INT32,
    "tensor(uint8)": DT.UINT8,
    "tensor(int16)": DT.INT16,
    "tensor(int8)": DT.INT8,
    "tensor(string)": DT.STRING,
    "tensor(int64)": DT.INT64,
    "tensor(bool)": DT.BOOL,
    "tensor(uint16)": DT.UINT16,
    "tensor(float16)": DT.HALF,
    "tensor(uint32)": DT.UINT32,
    "tensor(uint64)": DT.UINT64,
}


def _spec(arg: Any) -> TensorSpec:
    shape = (
        None
        if arg.shape is None
        else tuple(d if isinstance(d, int) and d >= 0 else -1 for d in arg.shape)
    )
    return TensorSpec(arg.name, _ORT_TYPES.get(arg.type, DT.INVALID), shape)


class OnnxBackend(ModelFileBackend):
    """Serves ``model.onnx`` (the contract's ONNX file) with onnxruntime on CPU."""

    platform = "onnx"
    file_format = "onnx"

    def __init__(self) -> None:
        super().__init__()
        self._session: Any = None

    def _open(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads.intra_op or 1
        options.inter_op_num_threads = self.threads.inter_op or 1
        options.add_session_config_entry("session.intra_op.allow_spinning", INTRA_OP_SPINNING)
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def _model_io(self) -> tuple[dict[str, TensorSpec], dict[str, TensorSpec]]:
        inputs = {arg.name: _spec(arg) for arg in self._session.get_inputs()}
        outputs = {arg.name: _spec(arg) for arg in self._session.get_outputs()}
        return inputs, outputs

    def _run(self, feeds: Mapping[str, np.ndarray], outputs: Sequence[str]) -> list[np.ndarray]:
        session = self._session
        if session is None:
            raise InvalidArgument("model version is unloaded")
        try:
            return list(session.run(list(outputs), dict(feeds)))
        except Exception as exc:  # onnxruntime raises its own pybind error types
            message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InvalidArgument(message) from None

    def unload(self) -> None:
        """Drop the session (freed once in-flight calls finish)."""
        super().unload()
        self._session = None
