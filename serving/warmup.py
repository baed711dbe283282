"""Model warmup: replay ``assets.extra/tf_serving_warmup_requests`` before a version serves.

The file is a TFRecord of ``tensorflow.serving.PredictionLog`` (at most 1000 records, as in
TF Serving). Predict, classify, regress and multi-inference logs are replayed against the
backend; a failure fails the load, so a version with broken warmup data never serves.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from serving.backends.base import Backend
from serving.errors import Code, InvalidArgument, ServingError

__all__ = ["WARMUP_FILE", "MAX_WARMUP_RECORDS", "read_tfrecords", "run_warmup"]

log = logging.getLogger(__name__)

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000


def read_tfrecords(path: Path) -> Iterator[bytes]:
    """Yield the records of a TFRecord file (CRCs are not verified; truncation is an error)."""
    with open(path, "rb") as stream:
        while True:
            header = stream.read(12)
            if not header:
                return
            if len(header) < 12:
                raise ServingError(f"truncated record header in {path.name}", Code.DATA_LOSS)
            (length,) = struct.unpack("<Q", header[:8])
            data = stream.read(length)
            if len(data) < length or len(stream.read(4)) < 4:
                raise ServingError(f"truncated record in {path.name}", Code.DATA_LOSS)
            yield data


def _examples_tensor(model_input) -> np.ndarray:
    """Serialized tf.Examples (context merged in) from a ``tensorflow.serving.Input``."""
    kind = model_input.WhichOneof("kind")
    if kind == "example_list":
        examples = list(model_input.example_list.examples)
    elif kind == "example_list_with_context":
        context = model_input.example_list_with_context.context
        examples = []
        for example in model_input.example_list_with_context.examples:
            merged = type(example)()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            examples.append(merged)
    else:
        raise InvalidArgument("Input is empty")
    return np.array([e.SerializeToString() for e in examples], dtype=object)


def _replay(backend: Backend, log_entry) -> None:
    import tensorflow as tf

    kind = log_entry.WhichOneof("log_type")
    if kind == "predict_log":
        request = log_entry.predict_log.request
        inputs = {alias: tf.make_ndarray(proto) for alias, proto in request.inputs.items()}
        backend.predict(request.model_spec.signature_name, inputs, list(request.output_filter))
    elif kind in ("classify_log", "regress_log"):
        request = getattr(log_entry, kind).request
        tensor = _examples_tensor(request.input)
        backend.predict(request.model_spec.signature_name, {"inputs": tensor})
    elif kind == "multi_inference_log":
        request = log_entry.multi_inference_log.request
        tensor = _examples_tensor(request.input)
        for task in request.tasks:
            backend.predict(task.model_spec.signature_name, {"inputs": tensor})
    else:
        raise InvalidArgument(f"Unsupported log_type for warmup: {kind}")


def run_warmup(backend: Backend, version_dir: Path, iterations: int = 1) -> int:
    """Replay the warmup file of ``version_dir`` if present; return the records replayed.

    Raises ``ServingError`` (the failing request's error) so the load fails.
    """
    path = Path(version_dir) / WARMUP_FILE
    if not path.is_file():
        return 0
    from common import wire

    count = 0
    for record in read_tfrecords(path):
        count += 1
        if count > MAX_WARMUP_RECORDS:
            raise InvalidArgument(
                f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}"
            )
        entry = wire.PredictionLog()
        try:
            entry.ParseFromString(record)
        except Exception:  # protobuf DecodeError
            raise ServingError(f"Failed to parse warmup record {count}", Code.DATA_LOSS) from None
        for _ in range(max(iterations, 1)):
            _replay(backend, entry)
    log.info("warmup of %s: replayed %d records", version_dir, count)
    return count
