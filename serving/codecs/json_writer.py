"""Response bodies laid out byte for byte as TF Serving's rapidjson ``PrettyWriter`` does.

Row responses switch to single-line arrays per instance (hence ``[3.0, 3.5\\n    ]``),
columnar ones print every element on its own line, ``*_bytes`` string outputs become
``{"b64": ...}``, and error bodies are ``{"error": "<message>"}`` pretty-printed.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence

import numpy as np

from serving.codecs import dtypes as dt
from serving.codecs.json_text import PrettyWriter, format_decimal, format_floats, quote
from serving.errors import InvalidArgument

__all__ = ["predict_body", "error_body", "classify_body", "regress_body", "tensor_texts"]

_B64 = object()  # marker: this output's strings are written as {"b64": ...}


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def tensor_texts(name: str, arr: np.ndarray) -> list:
    """Every element of ``arr`` (flattened) rendered as JSON text, or b64 strings to wrap."""
    kind = arr.dtype.kind
    if kind == "f" and arr.dtype != np.float16:
        return format_floats(arr)
    if kind in "iu":
        return [str(v) for v in arr.reshape(-1).tolist()]
    if kind == "b":
        return ["true" if v else "false" for v in arr.reshape(-1).tolist()]
    if kind in "OSU":
        values = [v if isinstance(v, bytes) else str(v).encode() for v in arr.reshape(-1).tolist()]
        if name.endswith("_bytes"):
            return [(_B64, base64.b64encode(v).decode("ascii")) for v in values]
        return [quote(v.decode("utf-8", "surrogateescape")) for v in values]
    try:
        type_name = dt.dtype_name(dt.dtype_enum(arr.dtype))
    except ValueError:
        type_name = str(arr.dtype)
    raise InvalidArgument(f"Failed to write JSON value for tensor type: {type_name}")


def _leaf(writer: PrettyWriter, text) -> None:
    if isinstance(text, tuple):
        writer.start_object()
        writer.key("b64")
        writer.raw(quote(text[1]))
        writer.end_object()
    else:
        writer.raw(text)


def _single_line(texts: list, start: int, dims: Sequence[int]) -> str:
    """A nested single-line array (no b64 objects) as one string."""
    if len(dims) == 1:
        return "[" + ", ".join(texts[start : start + dims[0]]) + "]"
    step = int(np.prod(dims[1:]))
    parts = (_single_line(texts, start + i * step, dims[1:]) for i in range(dims[0]))
    return "[" + ", ".join(parts) + "]"


def _write_tensor(writer: PrettyWriter, texts: list, start: int, dims: Sequence[int]) -> None:
    """``AddTensorValues``: the values from ``start`` shaped ``dims`` (scalar when empty)."""
    if not dims:
        _leaf(writer, texts[start])
        return
    if writer.single_line and all(dims) and not isinstance(texts[start], tuple):
        writer.raw(_single_line(texts, start, dims))
        return
    writer.start_array()
    step = int(np.prod(dims[1:])) if len(dims) > 1 else 1
    for i in range(dims[0]):
        _write_tensor(writer, texts, start + i * step, dims[1:])
    writer.end_array()


def predict_body(outputs: Mapping[str, np.ndarray], row_format: bool) -> bytes:
    """``MakeJsonFromTensors``: the predict response body for the output tensors."""
    if not outputs:
        raise InvalidArgument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    arrays = {name: np.asarray(outputs[name]) for name in names}
    writer = PrettyWriter()
    writer.start_object()
    multi = len(names) > 1
    if row_format:
        batch = -1
        for name in names:
            shape = arrays[name].shape
            if not shape:
                raise InvalidArgument(f"Tensor name: {name} has no shape information ")
            if batch >= 0 and shape[0] != batch:
                raise InvalidArgument(
                    f"Tensor name: {name} has inconsistent batch size: {shape[0]} "
                    f"expecting: {batch}"
                )
            batch = shape[0]
        texts = {name: tensor_texts(name, arrays[name]) for name in names}
        writer.key("predictions")
        writer.start_array()
        for item in range(batch):
            if multi:
                writer.start_object()
            writer.single_line = True
            for name in names:
                dims = arrays[name].shape[1:]
                if multi:
                    writer.key(name)
                _write_tensor(writer, texts[name], item * int(np.prod(dims)), dims)
            writer.single_line = False
            if multi:
                writer.end_object()
        writer.end_array()
    else:
        writer.key("outputs")
        if multi:
            writer.start_object()
        for name in names:
            if multi:
                writer.key(name)
            _write_tensor(writer, tensor_texts(name, arrays[name]), 0, arrays[name].shape)
        if multi:
            writer.end_object()
    writer.end_object()
    return _encode(writer.text())


def error_body(message: str) -> bytes:
    """``{"error": "<message>"}`` as TF Serving's ``MakeJsonFromStatus`` writes it."""
    return _encode('{\n    "error": ' + quote(message) + "\n}")


def classify_body(results: Sequence[Sequence[tuple[str, float]]]) -> bytes:
    """``{"results": [[[label, score], ...], ...]}`` for a classification."""
    if not results:
        raise InvalidArgument("Cannot convert empty ClassificationResults to JSON")
    writer = PrettyWriter()
    writer.start_object()
    writer.key("results")
    writer.start_array()
    for classes in results:
        writer.single_line = True
        writer.start_array()
        for label, score in classes:
            writer.start_array()
            writer.raw(quote(label))
            writer.raw(format_decimal(float(score), single=True))
            writer.end_array()
        writer.end_array()
        writer.single_line = False
    writer.end_array()
    writer.end_object()
    return _encode(writer.text())


def regress_body(values: Sequence[float]) -> bytes:
    """``{"results": [v1, v2, ...]}`` for a regression."""
    if not len(values):
        raise InvalidArgument("Cannot convert empty RegressionResults to JSON")
    writer = PrettyWriter()
    writer.start_object()
    writer.key("results")
    writer.single_line = True
    writer.start_array()
    for value in values:
        writer.raw(format_decimal(float(value), single=True))
    writer.end_array()
    writer.end_object()
    return _encode(writer.text())
