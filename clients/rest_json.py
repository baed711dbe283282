"""Predict body encode / answer decode for the REST client (TF Serving JSON, row or columnar).

Row format: ``{"signature_name": s, "instances": [...]}``; columnar: ``{"inputs": {...}}``.
String tensors travel as ``{"b64": ...}`` (standard alphabet). Encoding uses orjson's numpy
support, which writes float32 at float32 shortest round-trip precision.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson

__all__ = ["encode_predict_request", "decode_predict_response"]


def _jsonable(arr: np.ndarray) -> Any:
    if arr.dtype == object or arr.dtype.kind in "SU":
        flat = [{"b64": base64.b64encode(v if isinstance(v, bytes) else str(v).encode())
                 .decode("ascii")} for v in arr.reshape(-1)]
        return np.array(flat, dtype=object).reshape(arr.shape).tolist()
    return np.ascontiguousarray(arr)


def encode_predict_request(inputs: dict[str, np.ndarray], signature: str,
                           columnar: bool = False) -> bytes:
    """The JSON bytes of a predict request for ``inputs`` (alias -> batch tensor)."""
    body: dict[str, Any] = {"signature_name": signature}
    if columnar:
        body["inputs"] = {k: _jsonable(v) for k, v in inputs.items()}
    elif len(inputs) == 1:
        body["instances"] = _jsonable(next(iter(inputs.values())))
    else:
        n = len(next(iter(inputs.values())))
        cols = {k: _jsonable(v) for k, v in inputs.items()}
        body["instances"] = [{k: c[i] for k, c in cols.items()} for i in range(n)]
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def _array(value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == np.float64:
        return arr.astype(np.float32)
    return arr


def decode_predict_response(answer: dict[str, Any],
                            output_names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Outputs by alias from ``{"predictions": ...}`` or ``{"outputs": ...}``.

    A bare (single-output) answer is keyed by the only name in ``output_names``, or ``""``.
    """
    single = output_names[0] if output_names and len(output_names) == 1 else ""
    if "predictions" in answer:
        rows = answer["predictions"]
        if not isinstance(rows, list):
            raise ValueError("'predictions' is not a list")
        if rows and isinstance(rows[0], dict):
            return {k: _array([r[k] for r in rows]) for k in rows[0]}
        return {single: _array(rows)}
    if "outputs" in answer:
        outs = answer["outputs"]
        if isinstance(outs, dict):
            return {k: _array(v) for k, v in outs.items()}
        return {single: _array(outs)}
    raise ValueError(f"answer has keys {sorted(answer)}; expected 'predictions' or 'outputs'")
