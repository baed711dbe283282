"""A fast path for the commonest predict body: one all-number tensor, e.g. a client-resized
image as ``{"instances": [[[[r, g, b], ...]]]}`` (~480 kB of JSON floats at 128x128).

Parsing such a body the general way builds ~16k Python lists and checks every leaf one by one
(``orjson.loads`` + ``fast_tensor``). Here the bytes themselves are checked at C speed:

1. the body is ``{ ["signature_name": "<plain name>",] "instances"|"inputs": <array>
   [, "signature_name": "<plain name>"] }`` and the array holds only number characters,
   commas, brackets and JSON whitespace (so no strings, objects, ``true``/``NaN``...);
2. the array's bracket/comma skeleton equals the one of a regular (dense) nested list, whose
   shape is read off the skeleton;
3. with every inner bracket blanked out, the numbers are parsed by orjson as one flat list
   (so each number is read exactly as the general path reads it) and must count
   ``prod(shape)``.

Anything else returns None and the caller runs the general parser, so error messages and
every unusual case are unchanged. The tensor returned is identical (values, dtype, shape) to
what the general path produces for the same body.

For float and double inputs, step 3 is done by simdjson (``pysimdjson``, installed with the
``[serve]`` extra): it checks the array's JSON grammar and converts every number to the
correctly rounded double straight into one buffer (``Array.as_buffer``); this route is ~1.8x
faster than the orjson route (BENCHMARKS.md section 3d). Whatever simdjson refuses (e.g.
integers beyond 64 bits, which orjson reads as floats) goes the orjson route, which stays the
authority; without pysimdjson (the clients' base install, which parses no requests) that
route runs alone.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable, Mapping

import numpy as np
import orjson

from serving.codecs import dtypes as dt
from serving.codecs.json_tensors import INT_RANGES, MAX_RANK, fast_tensor

__all__ = ["parse_numeric_body"]

_WS = rb"[ \t\n\r]*"
_NAME = rb'"signature_name"' + _WS + rb":" + _WS + rb'"([A-Za-z0-9_.\-/]*)"'
_HEAD = re.compile(
    _WS + rb"\{" + _WS + rb"(?:" + _NAME + _WS + rb"," + _WS + rb')?"(instances|inputs)"'
    + _WS + rb":" + _WS + rb"(?=\[)"
)
_TAIL = re.compile(rb"\]" + _WS + rb"(?:," + _WS + _NAME + _WS + rb")?\}" + _WS + rb"\Z")
_CACHE_BYTES = 1 << 20  # skeletons up to this size are cached (16 of them at most)
_TAIL_WINDOW = 256  # the trailer (closing bracket, optional name, brace) fits in this
try:  # the [serve] extra; the clients' base install parses no request bodies
    import simdjson
except ImportError:  # pragma: no cover - installed with every server
    simdjson = None
_PARSERS = threading.local()  # a simdjson.Parser is not thread-safe: one per thread
_NUMBER_BYTES = b"0123456789.eE+-"
_JSON_WS = b" \t\n\r"
_BLANK_BRACKETS = bytes(32 if c in b"[]" else c for c in range(256))
_FLOATS = (dt.DT_FLOAT, dt.DT_DOUBLE)
_INTS = (
    dt.DT_INT8, dt.DT_INT16, dt.DT_INT32, dt.DT_INT64,
    dt.DT_UINT8, dt.DT_UINT32, dt.DT_UINT64,
)


def _skeleton(shape: tuple[int, ...]) -> bytes:
    """The brackets and commas of a dense nested list of ``shape`` (numbers removed)."""
    unit = b"[" + b"," * (shape[-1] - 1) + b"]"
    for size in reversed(shape[:-1]):
        unit = b"[" + b",".join([unit] * size) + b"]"
    return unit


@functools.lru_cache(maxsize=16)
def _cached_skeleton(shape: tuple[int, ...]) -> bytes:
    """``_skeleton`` for the few shapes a deployment sees (only small ones are cached)."""
    return _skeleton(shape)


def _dense_shape(skeleton: bytes) -> tuple[int, ...] | None:
    """The shape a regular skeleton encodes, or None when it is not one."""
    rank = len(skeleton) - len(skeleton.lstrip(b"["))
    if not 1 <= rank <= MAX_RANK:
        return None
    first_close = skeleton.find(b"]")
    shape = [skeleton.count(b",", rank - 1, first_close) + 1]
    unit_len = first_close - rank + 2
    for level in range(rank - 1, 0, -1):
        closing = b"]" * (rank - level + 1)
        end = skeleton.find(closing, level - 1)
        if end < 0:
            return None
        span = end + len(closing) - (level - 1)  # "[" + units joined by "," + "]"
        size, rest = divmod(span - 1, unit_len + 1)
        if rest or size < 1:
            return None
        shape.insert(0, size)
        unit_len = span
    shape_t = tuple(shape)
    build = _cached_skeleton if len(skeleton) <= _CACHE_BYTES else _skeleton
    return shape_t if build(shape_t) == skeleton else None


def _flat_numbers(region: bytes, shape: tuple[int, ...]) -> list | None:
    """Every number of the array as one flat list (orjson), or None."""
    flat = bytearray(region.translate(_BLANK_BRACKETS))
    flat[0], flat[-1] = ord("["), ord("]")
    try:
        values = orjson.loads(flat)
    except orjson.JSONDecodeError:
        return None
    return values if len(values) == math.prod(shape) else None


def _region_shape(region: bytes) -> tuple[int, ...] | None:
    """The dense shape of an array holding only numbers, or None."""
    skeleton = region.translate(None, _NUMBER_BYTES + _JSON_WS)
    if skeleton.translate(None, b",[]"):
        return None  # strings, objects, literals, NaN/Infinity: the general path
    return _dense_shape(skeleton)


def _numbers(region: bytes) -> tuple[tuple[int, ...], list] | None:
    """The dense shape and the flat numbers of an all-number array (orjson), or None."""
    shape = _region_shape(region)
    if shape is None:
        return None
    values = _flat_numbers(region, shape)
    return None if values is None else (shape, values)


def _tensor(
    shape: tuple[int, ...], values: list, dtype: int, has_floats: bool
) -> np.ndarray | None:
    """The numbers as a tensor exactly as ``fast_tensor`` builds it, or None.
    ``has_floats``: the text holds a fraction or an exponent somewhere."""
    if dtype in _INTS:
        if has_floats:
            return None  # a float among integers: the general path reports it
        if dtype == dt.DT_UINT64:
            tensor = fast_tensor(values, dtype)  # range checks on the flat list
            return None if tensor is None else tensor.reshape(shape)
        # Every value is a Python int here, except that orjson turns integers beyond the
        # 64-bit range into floats; those, like ints past int64, raise OverflowError.
        try:
            wide = np.fromiter(values, np.int64, len(values))
        except (OverflowError, TypeError, ValueError):
            return None
        low, high = INT_RANGES[dtype]
        if wide.size and (int(wide.min()) < low or int(wide.max()) > high):
            return None  # out of the dtype's range: the general path reports it
        return wide.astype(dt.numpy_dtype(dtype), copy=False).reshape(shape)
    if dtype not in _FLOATS:
        return None
    try:
        wide = np.fromiter(values, np.float64, len(values))
    except (OverflowError, TypeError, ValueError):
        return None
    with np.errstate(over="ignore"):
        return wide.astype(dt.numpy_dtype(dtype), copy=False).reshape(shape)


def _simd_numbers(region: bytes) -> tuple[tuple[int, ...], np.ndarray] | None:
    """The dense shape and every number as float64 (simdjson), or None (no pysimdjson, or an
    array it does not take: not dense, not all numbers, invalid JSON, integers past 64 bits,
    a number past the double range)."""
    if simdjson is None:
        return None
    shape = _region_shape(region)
    if shape is None:
        return None
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = simdjson.Parser()
    try:
        flat = parser.parse(region).as_buffer(of_type="d")
    except (ValueError, TypeError, RuntimeError):
        return None  # simdjson's errors; the orjson route decides (and words any error)
    values = np.frombuffer(flat, np.float64)
    return (shape, values) if values.size == math.prod(shape) else None


def _single_input(
    input_dtypes: Callable[[str], Mapping[str, int]], signature_name: str
) -> tuple[str, int] | None:
    """The signature's one ``(alias, dtype)``, or None when it has several inputs."""
    dtypes = input_dtypes(signature_name)  # so its errors are the ones the general path gives
    if len(dtypes) != 1:
        return None
    ((alias, dtype),) = dtypes.items()
    return alias, dtype


def parse_numeric_body(
    body: bytes, input_dtypes: Callable[[str], Mapping[str, int]]
) -> tuple[str, str, np.ndarray, str] | None:
    """``(signature_name, key, tensor, alias)`` for a one-tensor all-number body whose
    signature has exactly one input, or None when the general parser must handle it.

    ``key`` is ``"instances"`` (row format) or ``"inputs"`` (columnar). ``input_dtypes`` is
    called only once the body is known to be valid, so its errors are the general path's.
    """
    head = _HEAD.match(body)
    if head is None:
        return None
    tail_from = max(head.end(), len(body) - _TAIL_WINDOW)
    tail = _TAIL.search(body, tail_from)
    if tail is None or (head.group(1) is not None and tail.group(1) is not None):
        return None
    start, stop = head.end(), tail.start() + 1
    key = head.group(2).decode()
    signature_name = (head.group(1) or tail.group(1) or b"").decode()
    has_floats = any(body.find(mark, start, stop) >= 0 for mark in (b".", b"e", b"E"))
    # Float text goes to simdjson (integer text would only be parsed twice: an integer dtype
    # needs the orjson route's exact ints). The whole body is valid JSON once either succeeds.
    region = body[start:stop]
    simd = _simd_numbers(region) if has_floats else None
    if simd is not None:
        single = _single_input(input_dtypes, signature_name)
        if single is None or single[1] not in _FLOATS:
            return None  # several inputs, or floats for a non-float input: the general path
        alias, dtype = single
        shape, wide = simd
        with np.errstate(over="ignore"):  # a copy: the parsed buffer is read-only
            tensor = wide.astype(dt.numpy_dtype(dtype)).reshape(shape)
        return signature_name, key, tensor, alias
    parsed = _numbers(region)
    if parsed is None:
        return None
    single = _single_input(input_dtypes, signature_name)
    if single is None:
        return None
    alias, dtype = single
    tensor = _tensor(*parsed, dtype, has_floats)
    return None if tensor is None else (signature_name, key, tensor, alias)
