"""TensorFlow ``DataType`` enum values, their names and their numpy equivalents.

Numpy-only (no TensorFlow import): the enum numbers are those of ``tensorflow/core/framework/
types.proto``; names are what TensorFlow's ``DataTypeString`` prints (``float``, ``int32``...).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DT_INVALID",
    "DT_FLOAT",
    "DT_DOUBLE",
    "DT_INT32",
    "DT_UINT8",
    "DT_INT16",
    "DT_INT8",
    "DT_STRING",
    "DT_COMPLEX64",
    "DT_INT64",
    "DT_BOOL",
    "DT_UINT16",
    "DT_COMPLEX128",
    "DT_HALF",
    "DT_UINT32",
    "DT_UINT64",
    "dtype_name",
    "enum_name",
    "numpy_dtype",
    "dtype_enum",
]

DT_INVALID = 0
DT_FLOAT = 1
DT_DOUBLE = 2
DT_INT32 = 3
DT_UINT8 = 4
DT_INT16 = 5
DT_INT8 = 6
DT_STRING = 7
DT_COMPLEX64 = 8
DT_INT64 = 9
DT_BOOL = 10
DT_BFLOAT16 = 14
DT_UINT16 = 17
DT_COMPLEX128 = 18
DT_HALF = 19
DT_RESOURCE = 20
DT_VARIANT = 21
DT_UINT32 = 22
DT_UINT64 = 23

_NAMES = {
    DT_INVALID: "invalid",
    DT_FLOAT: "float",
    DT_DOUBLE: "double",
    DT_INT32: "int32",
    DT_UINT8: "uint8",
    DT_INT16: "int16",
    DT_INT8: "int8",
    DT_STRING: "string",
    DT_COMPLEX64: "complex64",
    DT_INT64: "int64",
    DT_BOOL: "bool",
    11: "qint8",
    12: "quint8",
    13: "qint32",
    DT_BFLOAT16: "bfloat16",
    15: "qint16",
    16: "quint16",
    DT_UINT16: "uint16",
    DT_COMPLEX128: "complex128",
    DT_HALF: "half",
    DT_RESOURCE: "resource",
    DT_VARIANT: "variant",
    DT_UINT32: "uint32",
    DT_UINT64: "uint64",
}

_NUMPY = {
    DT_FLOAT: np.dtype(np.float32),
    DT_DOUBLE: np.dtype(np.float64),
    DT_INT32: np.dtype(np.int32),
    DT_UINT8: np.dtype(np.uint8),
    DT_INT16: np.dtype(np.int16),
    DT_INT8: np.dtype(np.int8),
    DT_STRING: np.dtype(object),
    DT_COMPLEX64: np.dtype(np.complex64),
    DT_INT64: np.dtype(np.int64),
    DT_BOOL: np.dtype(np.bool_),
    DT_UINT16: np.dtype(np.uint16),
    DT_COMPLEX128: np.dtype(np.complex128),
    DT_HALF: np.dtype(np.float16),
    DT_UINT32: np.dtype(np.uint32),
    DT_UINT64: np.dtype(np.uint64),
}

_FROM_NUMPY = {v: k for k, v in _NUMPY.items()}


def dtype_name(dtype: int) -> str:
    """TensorFlow's ``DataTypeString`` for an enum value (``1`` -> ``"float"``)."""
    return _NAMES.get(int(dtype), f"unknown dtype enum ({int(dtype)})")


def enum_name(dtype: int) -> str:
    """The proto enum name (``1`` -> ``"DT_FLOAT"``)."""
    return "DT_" + dtype_name(dtype).upper() if int(dtype) in _NAMES else str(int(dtype))


def numpy_dtype(dtype: int) -> np.dtype:
    """The numpy dtype holding a TensorFlow dtype; strings are object arrays of ``bytes``."""
    try:
        return _NUMPY[int(dtype)]
    except KeyError:
        raise ValueError(f"no numpy equivalent for TensorFlow dtype {dtype_name(dtype)}") from None


def dtype_enum(dtype: np.dtype | type | str) -> int:
    """The TensorFlow enum for a numpy dtype; ``bytes``/``str``/object arrays map to DT_STRING."""
    dt = np.dtype(dtype)
    if dt.kind in ("S", "U", "O"):
        return DT_STRING
    try:
        return _FROM_NUMPY[dt]
    except KeyError:
        raise ValueError(f"numpy dtype {dt} has no TensorFlow equivalent") from None
