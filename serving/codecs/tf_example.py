"""Serialise ``tf.train.Example`` protos without TensorFlow or protobuf (numpy-only).

The wire format is small: ``Example{features=1: Features{feature=1: map<string, Feature>}}``,
``Feature{oneof kind: bytes_list=1, float_list=2, int64_list=3}`` and each list has one
repeated ``value=1`` field (floats and ints packed). The bytes are what protobuf produces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Feature", "encode_example"]

KINDS = ("bytes", "float", "int64")


@dataclass
class Feature:
    """One feature: ``kind`` is ``bytes``/``float``/``int64`` or None (an empty Feature)."""

    kind: str | None = None
    values: list = field(default_factory=list)


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_delimited(field_number: int, payload: bytes) -> bytes:
    return _varint((field_number << 3) | 2) + _varint(len(payload)) + payload


def _feature_bytes(feature: Feature) -> bytes:
    if feature.kind is None:
        return b""
    if feature.kind == "bytes":
        inner = b"".join(_length_delimited(1, v) for v in feature.values)
        return _length_delimited(1, inner)
    if feature.kind == "float":
        packed = np.asarray(feature.values, dtype="<f4").tobytes()
        inner = _length_delimited(1, packed) if feature.values else b""
        return _length_delimited(2, inner)
    if feature.kind == "int64":
        packed = b"".join(_varint(int(v)) for v in feature.values)
        inner = _length_delimited(1, packed) if feature.values else b""
        return _length_delimited(3, inner)
    raise ValueError(f"unknown feature kind {feature.kind!r}; accepted: {', '.join(KINDS)}")


def encode_example(features: Mapping[str, Feature]) -> bytes:
    """The serialised ``tf.train.Example`` holding ``features``."""
    entries = b"".join(
        _length_delimited(
            1, _length_delimited(1, name.encode("utf-8", "surrogateescape"))
            + _length_delimited(2, _feature_bytes(feature))
        )
        for name, feature in features.items()
    )
    return _length_delimited(1, entries) if features else b""


def example_from_arrays(features: Mapping[str, Sequence | np.ndarray]) -> bytes:
    """Client convenience: an Example from arrays (float -> float_list, int/bool -> int64_list,
    bytes/str -> bytes_list)."""
    out = {}
    for name, value in features.items():
        arr = np.asarray(value).reshape(-1)
        if arr.dtype.kind == "f":
            out[name] = Feature("float", arr.astype(np.float32).tolist())
        elif arr.dtype.kind in "iub":
            out[name] = Feature("int64", arr.astype(np.int64).tolist())
        else:
            out[name] = Feature(
                "bytes", [v if isinstance(v, bytes) else str(v).encode() for v in arr.tolist()]
            )
    return encode_example(out)
