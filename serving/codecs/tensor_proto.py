"""numpy <-> ``tensorflow.TensorProto`` by duck typing (imports no proto classes).

The caller passes a TensorProto instance (e.g. a map entry ``response.outputs[name]``) or the
class. Decoding follows TensorFlow's ``Tensor::FromProto``: ``tensor_content`` when present,
else the typed ``*_val`` field, where fewer values than elements repeat the last value (one
value fills the whole tensor) and no value means zeros. Encoding writes typed ``*_val`` fields
as TF Serving does, or ``tensor_content`` on request.
"""

from __future__ import annotations

import math

import numpy as np

from serving.codecs import dtypes as dt

__all__ = ["to_numpy", "from_numpy", "TensorProtoError", "TensorTooLarge", "VAL_FIELD"]

VAL_FIELD = {
    dt.DT_FLOAT: "float_val",
    dt.DT_DOUBLE: "double_val",
    dt.DT_INT32: "int_val",
    dt.DT_INT16: "int_val",
    dt.DT_INT8: "int_val",
    dt.DT_UINT8: "int_val",
    dt.DT_UINT16: "int_val",
    dt.DT_INT64: "int64_val",
    dt.DT_UINT32: "uint32_val",
    dt.DT_UINT64: "uint64_val",
    dt.DT_BOOL: "bool_val",
    dt.DT_STRING: "string_val",
    dt.DT_HALF: "half_val",
    dt.DT_COMPLEX64: "scomplex_val",
    dt.DT_COMPLEX128: "dcomplex_val",
}


# Far above any real request, far below what numpy can index: a shape beyond it is refused
# before anything is allocated (the gRPC layer applies its tighter message-size cap first).
MAX_ELEMENTS = 2**40


class TensorProtoError(ValueError):
    """A TensorProto that does not describe a valid tensor."""


class TensorTooLarge(TensorProtoError):
    """A TensorProto whose array would exceed the caller's ``max_bytes``."""


def _shape(proto) -> tuple[int, ...]:
    shape = proto.tensor_shape
    if shape.unknown_rank:
        raise TensorProtoError("tensor shape has unknown rank")
    dims = tuple(int(d.size) for d in shape.dim)
    if any(d < 0 for d in dims):
        raise TensorProtoError(f"tensor shape {list(dims)} has a negative dimension")
    return dims


def _typed_values(proto, dtype: int, count: int) -> np.ndarray:
    values = getattr(proto, VAL_FIELD[dtype])
    np_dtype = dt.numpy_dtype(dtype)
    if dtype == dt.DT_HALF:
        arr = np.array(values, dtype=np.uint16).view(np.float16)
    elif dtype in (dt.DT_COMPLEX64, dt.DT_COMPLEX128):
        if len(values) % 2:
            raise TensorProtoError(f"{len(values)} {VAL_FIELD[dtype]} values: complex "
                                   "numbers need an even count (real, imaginary pairs)")
        pairs = np.array(values, dtype=np.float64).reshape(-1, 2)
        arr = (pairs[:, 0] + 1j * pairs[:, 1]).astype(np_dtype)
    elif dtype == dt.DT_STRING:
        arr = np.empty(len(values), dtype=object)
        arr[:] = list(values)
    else:
        wide = np.int64 if VAL_FIELD[dtype] == "int_val" else np_dtype
        arr = np.array(values, dtype=wide).astype(np_dtype)
    if arr.size == count:
        return arr
    if arr.size > count:
        raise TensorProtoError(f"{arr.size} values for a tensor of {count} elements")
    if arr.size == 0:
        return np.full(count, b"" if dtype == dt.DT_STRING else 0, dtype=np_dtype)
    return np.concatenate([arr, np.repeat(arr[-1:], count - arr.size)])


def to_numpy(proto, max_bytes: int | None = None, *, copy: bool = True) -> np.ndarray:
    """The array a TensorProto describes (strings as an object array of ``bytes``).

    ``max_bytes`` refuses (``TensorTooLarge``), before anything is allocated, a tensor whose
    array would be larger: a few bytes of proto (shape ``[2**31]``, one ``float_val``) can
    describe gigabytes. ``copy=False``: a ``tensor_content`` already in native byte order
    comes back as a read-only view of the proto's bytes (no copy; the server's request path,
    where a copy of a large tensor would also release and re-take the GIL)."""
    dtype = int(proto.dtype)
    if dtype not in VAL_FIELD:
        raise TensorProtoError(f"unsupported tensor dtype {dt.enum_name(dtype)}")
    shape = _shape(proto)
    count = math.prod(shape)  # exact: np.prod wraps around in int64
    if count > MAX_ELEMENTS:
        raise TensorProtoError(f"tensor shape {list(shape)} has {count} elements; at most "
                               f"{MAX_ELEMENTS} are accepted")
    if max_bytes is not None and count * dt.numpy_dtype(dtype).itemsize > max_bytes:
        raise TensorTooLarge(f"shape {list(shape)} needs {count * dt.numpy_dtype(dtype).itemsize} "
                             f"bytes; the limit is {max_bytes}")
    content = proto.tensor_content
    if content and dtype != dt.DT_STRING:
        np_dtype = dt.numpy_dtype(dtype).newbyteorder("<")
        if len(content) != count * np_dtype.itemsize:
            raise TensorProtoError(
                f"tensor_content holds {len(content)} bytes; shape {list(shape)} of "
                f"{dt.dtype_name(dtype)} needs {count * np_dtype.itemsize}"
            )
        flat = np.frombuffer(content, dtype=np_dtype)
        if not copy and np_dtype.isnative:
            return flat.reshape(shape)
        return flat.astype(np_dtype.newbyteorder("=")).reshape(shape)
    return _typed_values(proto, dtype, count).reshape(shape)


def from_numpy(arr: np.ndarray, proto, *, tensor_content: bool = False):
    """Fill ``proto`` (an instance, cleared first, or a class to instantiate) from ``arr``."""
    proto = proto() if isinstance(proto, type) else proto
    proto.Clear()
    arr = np.asarray(arr)
    dtype = dt.dtype_enum(arr.dtype)
    proto.dtype = dtype
    for size in arr.shape:
        proto.tensor_shape.dim.add().size = int(size)
    if dtype == dt.DT_STRING:
        proto.string_val.extend(
            v if isinstance(v, bytes) else str(v).encode() for v in arr.reshape(-1).tolist()
        )
    elif tensor_content:
        proto.tensor_content = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    elif dtype == dt.DT_HALF:
        proto.half_val.extend(arr.reshape(-1).view(np.uint16).tolist())
    elif dtype in (dt.DT_COMPLEX64, dt.DT_COMPLEX128):
        flat = arr.reshape(-1)
        getattr(proto, VAL_FIELD[dtype]).extend(
            np.stack([flat.real, flat.imag], axis=1).reshape(-1).tolist()
        )
    else:
        getattr(proto, VAL_FIELD[dtype]).extend(arr.reshape(-1).tolist())
    return proto
