"""numpy <-> ``tensorflow.TensorProto`` for the gRPC client (duck-typed, no TF import here).

Numeric tensors are sent as raw little-endian ``tensor_content`` bytes (one memcpy, no
per-element ``float_val`` list); strings as ``string_val``. Decoding accepts both
``tensor_content`` and the typed ``*_val`` fields TF Serving answers with by default.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fill_tensor_proto", "tensor_proto_to_numpy"]

# tensorflow/core/framework/types.proto
_DT_BY_NUMPY = {np.dtype(np.float32): 1, np.dtype(np.float64): 2, np.dtype(np.int32): 3,
                np.dtype(np.uint8): 4, np.dtype(np.int16): 5, np.dtype(np.int8): 6,
                np.dtype(np.int64): 9, np.dtype(np.bool_): 10, np.dtype(np.uint16): 17,
                np.dtype(np.float16): 19, np.dtype(np.uint32): 22, np.dtype(np.uint64): 23}
_NUMPY_BY_DT = {v: k for k, v in _DT_BY_NUMPY.items()}
DT_STRING = 7
_VAL_FIELD = {1: "float_val", 2: "double_val", 3: "int_val", 4: "int_val", 5: "int_val",
              6: "int_val", 9: "int64_val", 10: "bool_val", 17: "int_val", 19: "half_val",
              22: "uint32_val", 23: "uint64_val"}


def fill_tensor_proto(proto: Any, arr: np.ndarray) -> Any:
    """Fill an empty ``TensorProto`` ``proto`` from ``arr`` and return it."""
    arr = np.asarray(arr)
    for size in arr.shape:
        proto.tensor_shape.dim.add().size = int(size)
    if arr.dtype == object or arr.dtype.kind in "SU":
        proto.dtype = DT_STRING
        proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode()
                                for v in arr.reshape(-1))
        return proto
    if arr.dtype not in _DT_BY_NUMPY:
        raise ValueError(f"cannot send dtype {arr.dtype} over gRPC")
    proto.dtype = _DT_BY_NUMPY[arr.dtype]
    proto.tensor_content = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
    return proto


def tensor_proto_to_numpy(proto: Any) -> np.ndarray:
    """The numpy array a ``TensorProto`` holds (shape from ``tensor_shape``)."""
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    count = int(np.prod(shape)) if shape else 1
    if proto.dtype == DT_STRING:
        vals = list(proto.string_val)
        out = np.empty(count, dtype=object)
        out[:] = vals if len(vals) == count else (vals * count)[:count] if vals else b""
        return out.reshape(shape)
    if proto.dtype not in _NUMPY_BY_DT:
        raise ValueError(f"unsupported TensorProto dtype enum {proto.dtype}")
    dtype = _NUMPY_BY_DT[proto.dtype]
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype=dtype.newbyteorder("<")) \
            .astype(dtype).reshape(shape)
    vals = getattr(proto, _VAL_FIELD[proto.dtype])
    if proto.dtype == 19:
        flat = np.asarray(vals, dtype=np.uint16).view(np.float16)
    else:
        flat = np.asarray(vals, dtype=dtype)
    if flat.size == count:
        return flat.reshape(shape)
    if flat.size == 0:
        return np.zeros(shape, dtype=dtype)
    out = np.full(count, flat[-1], dtype=dtype)  # proto rule: the last value repeats
    out[: flat.size] = flat
    return out.reshape(shape)
