"""Classify and regress on serialised tf.Examples: signature rules and result extraction.

Follows TF Serving's ``classifier.cc`` / ``regressor.cc`` with the method-name check off (its
default): a signature needs exactly one input keyed ``inputs``; classification reads the
``classes`` (DT_STRING ``[batch, n]``) and/or ``scores`` (DT_FLOAT ``[batch, n]``) outputs,
regression one ``outputs`` (DT_FLOAT ``[batch]`` or ``[batch, 1]``). All errors are
INVALID_ARGUMENT, on REST and gRPC alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from serving.codecs.dtypes import DT_FLOAT, DT_STRING, enum_name
from serving.errors import InvalidArgument

__all__ = [
    "serialized_examples",
    "check_classify_signature",
    "check_regress_signature",
    "classification_results",
    "regression_results",
]


def _debug_string(signature_def) -> str:
    from google.protobuf import text_format

    return text_format.MessageToString(signature_def)


def serialized_examples(examples: Sequence[bytes], context: bytes | None) -> np.ndarray:
    """The ``inputs`` tensor: each Example with the context prepended (a protobuf merge)."""
    if not examples:
        raise InvalidArgument("Input is empty.")
    out = np.empty(len(examples), dtype=object)
    out[:] = [context + e for e in examples] if context else list(examples)
    return out


def find_signature(signature_defs, signature_name: str):
    """The named SignatureDef ('' means ``serving_default``) or TF Serving's error."""
    name = signature_name or "serving_default"
    if name not in signature_defs.signature_def:
        raise InvalidArgument(f"No signature was found with the name: {name}")
    return name, signature_defs.signature_def[name]


def check_classify_signature(signature_def) -> None:
    """``PreProcessClassification`` checks on the signature's inputs and outputs."""
    if len(signature_def.inputs) != 1:
        raise InvalidArgument("Expected one input Tensor.")
    if len(signature_def.outputs) not in (1, 2):
        raise InvalidArgument(
            f"Expected one or two output Tensors, found {len(signature_def.outputs)}"
        )
    if "inputs" not in signature_def.inputs:
        raise InvalidArgument(
            f"No classification inputs found in SignatureDef: {_debug_string(signature_def)}"
        )
    if "classes" not in signature_def.outputs and "scores" not in signature_def.outputs:
        raise InvalidArgument(
            "Expected classification signature outputs to contain at least one of classes or "
            f"scores. Signature was: {_debug_string(signature_def)}"
        )


def check_regress_signature(signature_def) -> None:
    """``PreProcessRegression`` checks on the signature's inputs and outputs."""
    if len(signature_def.inputs) != 1:
        raise InvalidArgument("Expected one input Tensor.")
    if len(signature_def.outputs) != 1:
        raise InvalidArgument("Expected one output Tensor.")
    if "inputs" not in signature_def.inputs:
        raise InvalidArgument(
            f"No regression inputs found in SignatureDef: {_debug_string(signature_def)}"
        )
    if "outputs" not in signature_def.outputs:
        raise InvalidArgument(
            f"No regression outputs found in SignatureDef: {_debug_string(signature_def)}"
        )


def _checked_2d(arr: np.ndarray, what: str, dtype: int, batch: int) -> np.ndarray:
    kind_ok = arr.dtype == np.float32 if dtype == DT_FLOAT else arr.dtype.kind in "OSU"
    if not kind_ok:
        raise InvalidArgument(f"Expected {what} Tensor of {enum_name(dtype)}. Got: {arr.dtype}")
    if arr.ndim != 2:
        raise InvalidArgument(
            f"Expected Tensor shape: [batch_size num_classes] but got {list(arr.shape)}"
        )
    if arr.shape[0] != batch:
        raise InvalidArgument(
            f"Expected {what} output batch size of {batch}. Got: {arr.shape[0]}"
        )
    return arr


def classification_results(outputs: dict, batch: int) -> list[list[tuple[str, float]]]:
    """Per example, ``(label, score)`` pairs; labels are "" without ``classes``, scores 0.0
    without ``scores``."""
    classes = outputs.get("classes")
    scores = outputs.get("scores")
    if classes is not None:
        classes = _checked_2d(classes, "classes", DT_STRING, batch)
    if scores is not None:
        scores = _checked_2d(scores, "scores", DT_FLOAT, batch)
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise InvalidArgument(
            "Tensors class and score should match in dim_size(1). Got "
            f"{classes.shape[1]} vs. {scores.shape[1]}"
        )
    width = (classes if classes is not None else scores).shape[1]
    results = []
    for i in range(batch):
        row = []
        for j in range(width):
            label = classes[i, j] if classes is not None else b""
            if isinstance(label, bytes):
                label = label.decode("utf-8", "surrogateescape")
            row.append((str(label), float(scores[i, j]) if scores is not None else 0.0))
        results.append(row)
    return results


def regression_results(outputs: dict, batch: int) -> list[float]:
    """One float per example from the ``outputs`` tensor."""
    values = outputs["outputs"]
    if values.dtype != np.float32:
        raise InvalidArgument(f"Expected output Tensor of DT_FLOAT.  Got: {values.dtype}")
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
        raise InvalidArgument(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but "
            f"got {list(values.shape)}"
        )
    if values.shape[0] != batch:
        raise InvalidArgument(
            f"Input batch size did not match output batch size: {batch} vs. {values.shape[0]}"
        )
    return [float(v) for v in values.reshape(-1)]
