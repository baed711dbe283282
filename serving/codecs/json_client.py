"""The client half of the REST JSON codec: numpy -> request body, response body -> numpy."""

from __future__ import annotations

import base64
from collections.abc import Mapping

import numpy as np
import orjson

from serving.codecs.json_parse import loads_lenient
from serving.codecs.json_tensors import is_b64_object
from serving.codecs.json_text import format_floats
from serving.errors import ServingError

__all__ = ["encode_request", "decode_response"]


def _is_bytes_array(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "OS"


def _jsonable(arr: np.ndarray) -> object:
    """An array as something orjson writes exactly (bytes as b64 objects, floats finite)."""
    if _is_bytes_array(arr):
        flat = [
            {"b64": base64.b64encode(v if isinstance(v, bytes) else str(v).encode()).decode()}
            for v in arr.reshape(-1).tolist()
        ]
        return _nest(flat, arr.shape)
    if arr.dtype.kind == "U":
        return arr.tolist()
    if arr.ndim == 0:
        if arr.dtype.kind == "f":
            return orjson.Fragment(format_floats(arr)[0])
        return arr.item()
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        texts = format_floats(arr)
        return _nest([orjson.Fragment(t) for t in texts], arr.shape)
    if arr.dtype == np.float16:
        return arr.astype(np.float32)
    return arr


def _nest(flat: list, shape: tuple) -> object:
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return flat
    step = int(np.prod(shape[1:]))
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def encode_request(
    inputs: np.ndarray | Mapping[str, np.ndarray],
    *,
    columnar: bool = False,
    signature_name: str | None = None,
) -> bytes:
    """A ``:predict`` body: ``instances`` (row, dim 0 = batch) or ``inputs`` (columnar)."""
    doc: dict[str, object] = {}
    if signature_name:
        doc["signature_name"] = signature_name
    if isinstance(inputs, Mapping):
        arrays = {name: np.asarray(value) for name, value in inputs.items()}
        if columnar:
            doc["inputs"] = {name: _jsonable(a) for name, a in arrays.items()}
        else:
            sizes = {a.shape[0] if a.ndim else None for a in arrays.values()}
            if len(sizes) != 1 or None in sizes:
                raise ValueError("row format needs every input to share dim 0 (the batch)")
            batch = sizes.pop()
            doc["instances"] = [
                {name: _jsonable(np.asarray(a[i])) for name, a in arrays.items()}
                for i in range(batch)
            ]
    else:
        arr = np.asarray(inputs)
        if not columnar and arr.ndim == 0:
            raise ValueError("row format needs an array with a batch dimension")
        doc["inputs" if columnar else "instances"] = _jsonable(arr)
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)


def _to_array(value: object, float_dtype: type) -> np.ndarray:
    if _contains_b64(value):
        return np.array(_unwrap_b64(value), dtype=object)
    arr = np.array(value)
    if arr.dtype.kind == "f":
        return arr.astype(float_dtype)
    if arr.dtype.kind == "U":
        return arr.astype(object)
    return arr


def _contains_b64(value: object) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return is_b64_object(value)


def _unwrap_b64(value: object) -> object:
    if isinstance(value, list):
        return [_unwrap_b64(v) for v in value]
    return base64.b64decode(value["b64"]) if is_b64_object(value) else value


def decode_response(body: bytes, float_dtype: type = np.float32) -> np.ndarray | dict:
    """Arrays from a ``predictions``/``outputs`` body; an ``error`` body raises."""
    doc = loads_lenient(body)
    if not isinstance(doc, dict):
        raise ValueError("response is not a JSON object")
    if "error" in doc:
        raise ServingError(str(doc["error"]))
    if "predictions" in doc:
        rows = doc["predictions"]
        if rows and isinstance(rows[0], dict) and not is_b64_object(rows[0]):
            return {k: _to_array([r[k] for r in rows], float_dtype) for k in rows[0]}
        return _to_array(rows, float_dtype)
    if "outputs" in doc:
        outputs = doc["outputs"]
        if isinstance(outputs, dict) and not is_b64_object(outputs):
            return {k: _to_array(v, float_dtype) for k, v in outputs.items()}
        return _to_array(outputs, float_dtype)
    raise ValueError("response has neither 'predictions', 'outputs' nor 'error'")
