"""Request checks every backend shares, with TF Serving's messages (``predict_util.cc``).

Signatures are described by ``SignatureSpec``: per alias, a dtype (``types_pb2`` enum value)
and a shape (``None`` = unknown rank, ``-1`` = unknown dimension). Backends build the specs
from their ``SignatureDef`` protos, so the checks see exactly what metadata advertises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from serving.errors import FailedPrecondition, InvalidArgument

__all__ = [
    "DT",
    "TensorSpec",
    "SignatureSpec",
    "dtype_name",
    "numpy_to_dt",
    "spec_from_signature_def",
    "check_request",
    "select_outputs",
    "empty_batch_outputs",
]


class DT:
    """``tensorflow.DataType`` enum values used here (``types.proto``)."""

    INVALID = 0
    FLOAT = 1
    DOUBLE = 2
    INT32 = 3
    UINT8 = 4
    INT16 = 5
    INT8 = 6
    STRING = 7
    INT64 = 9
    BOOL = 10
    UINT16 = 17
    HALF = 19
    UINT32 = 22
    UINT64 = 23


_NAMES = {
    DT.FLOAT: "float",
    DT.DOUBLE: "double",
    DT.INT32: "int32",
    DT.UINT8: "uint8",
    DT.INT16: "int16",
    DT.INT8: "int8",
    DT.STRING: "string",
    DT.INT64: "int64",
    DT.BOOL: "bool",
    DT.UINT16: "uint16",
    DT.HALF: "half",
    DT.UINT32: "uint32",
    DT.UINT64: "uint64",
}
_FROM_NUMPY = {
    np.dtype(np.float32): DT.FLOAT,
    np.dtype(np.float64): DT.DOUBLE,
    np.dtype(np.int32): DT.INT32,
    np.dtype(np.uint8): DT.UINT8,
    np.dtype(np.int16): DT.INT16,
    np.dtype(np.int8): DT.INT8,
    np.dtype(np.int64): DT.INT64,
    np.dtype(np.bool_): DT.BOOL,
    np.dtype(np.uint16): DT.UINT16,
    np.dtype(np.float16): DT.HALF,
    np.dtype(np.uint32): DT.UINT32,
    np.dtype(np.uint64): DT.UINT64,
}


def dtype_name(dt: int) -> str:
    """TF's ``DataTypeString`` for an enum value (``1`` -> ``float``)."""
    return _NAMES.get(dt, f"type{dt}")


def numpy_to_dt(dtype: np.dtype) -> int:
    """The ``DataType`` a numpy array carries; object/bytes arrays are ``DT_STRING``."""
    dtype = np.dtype(dtype)
    if dtype.kind in "OSU":
        return DT.STRING
    return _FROM_NUMPY.get(dtype, DT.INVALID)


@dataclass(frozen=True)
class TensorSpec:
    """One signature tensor: feed/fetch name, dtype enum, shape (None = unknown rank)."""

    name: str
    dtype: int
    shape: tuple[int, ...] | None


@dataclass(frozen=True)
class SignatureSpec:
    """Inputs and outputs of one signature, keyed by alias."""

    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]


def _shape(tensor_shape) -> tuple[int, ...] | None:
    if tensor_shape.unknown_rank:
        return None
    return tuple(int(d.size) for d in tensor_shape.dim)


def spec_from_signature_def(signature_def) -> SignatureSpec:
    """Build a ``SignatureSpec`` from a ``tensorflow.SignatureDef`` proto."""

    def tensors(infos) -> dict[str, TensorSpec]:
        return {
            k: TensorSpec(v.name, int(v.dtype), _shape(v.tensor_shape)) for k, v in infos.items()
        }

    return SignatureSpec(tensors(signature_def.inputs), tensors(signature_def.outputs))


def _fmt_shape(shape: Sequence[int] | None) -> str:
    return "<unknown>" if shape is None else "[" + ",".join(str(d) for d in shape) + "]"


def _shape_ok(actual: tuple[int, ...], declared: tuple[int, ...] | None) -> bool:
    if declared is None:
        return True
    if len(actual) != len(declared):
        return False
    return all(d < 0 or d == a for a, d in zip(actual, declared, strict=True))


def check_request(
    signatures: Mapping[str, SignatureSpec],
    signature_name: str,
    inputs: Mapping[str, np.ndarray],
    check_shapes: bool = True,
) -> SignatureSpec:
    """Validate a predict request; return the signature's spec or raise TF Serving's error.

    Order as TF Serving: signature key, input count/aliases, dtypes, then (ours) shapes.
    """
    name = signature_name or "serving_default"
    spec = signatures.get(name)
    if spec is None:
        raise FailedPrecondition(f'Serving signature key "{name}" not found.')
    sent, wanted = set(inputs), set(spec.inputs)
    if len(sent) != len(wanted):
        raise InvalidArgument(
            f"input size does not match signature: {len(sent)}!={len(wanted)} "
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(wanted))}}}). "
            f"Sent extra: {{{','.join(sorted(sent - wanted))}}}. "
            f"Missing but required: {{{','.join(sorted(wanted - sent))}}}."
        )
    missing = sorted(wanted - sent)
    if missing:
        alias = missing[0]
        raise InvalidArgument(
            f"Signature input alias: {alias}(feed name: {spec.inputs[alias].name}) not found in "
            f"request and no default value provided. Inputs expected to be in the request "
            f"{{{','.join(sorted(sent))}}}, or default input alias set: "
        )
    for index, alias in enumerate(sorted(wanted)):
        expected = spec.inputs[alias]
        value = inputs[alias]
        got = numpy_to_dt(value.dtype)
        if got != expected.dtype:
            raise InvalidArgument(
                f"Expects arg[{index}] to be {dtype_name(expected.dtype)} but "
                f"{dtype_name(got) if got else str(value.dtype)} is provided"
            )
        if check_shapes and not _shape_ok(value.shape, expected.shape):
            raise InvalidArgument(
                f"input {alias} has shape {_fmt_shape(value.shape)} but signature {name} "
                f"accepts {_fmt_shape(expected.shape)} (-1 = any size)"
            )
    return spec


def select_outputs(spec: SignatureSpec, output_filter: Sequence[str]) -> list[str]:
    """The output aliases to return: all (sorted) for an empty filter, else the filter."""
    if not output_filter:
        return sorted(spec.outputs)
    seen: set[str] = set()
    for alias in output_filter:
        if alias not in spec.outputs:
            raise InvalidArgument(
                f"output tensor alias not found in signature: {alias} Outputs expected to be "
                f"in the set {{{','.join(sorted(spec.outputs))}}}."
            )
        if alias in seen:
            raise InvalidArgument(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    return list(output_filter)


def _numpy_dtype(dt: int) -> np.dtype | None:
    if dt == DT.STRING:
        return np.dtype(object)
    for dtype, value in _FROM_NUMPY.items():
        if value == dt:
            return dtype
    return None


def empty_batch_outputs(
    signatures: Mapping[str, SignatureSpec],
    signature_name: str,
    inputs: Mapping[str, np.ndarray],
    output_filter: Sequence[str] = (),
) -> dict[str, np.ndarray] | None:
    """The answer to an empty batch (every input has dim 0 of size 0), or None to run the model.

    A batch-major signature (every input and output declares dim 0 as -1, outputs' other
    dimensions known) maps 0 rows to 0 rows: the outputs are zero-row arrays of the declared
    dtypes and shapes, after the request passed every check a non-empty one gets. Runtimes
    disagree on empty tensors (oneDNN's MatMul rejects ``[0,k]`` on some CPUs), so the model
    is not asked. Any other signature (or a request that is not an empty batch) gets None.
    """
    if not inputs or any(a.ndim == 0 or a.shape[0] != 0 for a in inputs.values()):
        return None
    spec = check_request(signatures, signature_name, inputs)
    wanted = select_outputs(spec, output_filter)
    batch_major = all(
        t.shape is not None and len(t.shape) >= 1 and t.shape[0] == -1
        for t in spec.inputs.values()
    )
    outputs = {}
    for alias in wanted:
        tensor = spec.outputs[alias]
        dtype = _numpy_dtype(tensor.dtype)
        shape = tensor.shape
        if not batch_major or dtype is None or shape is None or not shape or shape[0] != -1:
            return None
        if any(d < 0 for d in shape[1:]):
            return None
        outputs[alias] = np.empty((0, *shape[1:]), dtype=dtype)
    return outputs
