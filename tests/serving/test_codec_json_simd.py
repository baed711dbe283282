"""The simdjson step of the REST fast path (``json_numeric._simd_numbers``, pysimdjson).

It must accept only valid dense all-number JSON arrays, give exactly orjson's values (as
float64), and leave every body it does not take to the orjson route; the fast path must give
the same tensors with and without it.
"""

from __future__ import annotations

import contextlib
import re
import struct
from collections.abc import Iterator

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.codecs import dtypes as dt
from serving.codecs import json_numeric
from serving.codecs.json_codec import encode_predict_request, parse_predict_general
from serving.errors import ServingError
from tests.serving.test_codec_json_numeric import _DTYPES, _bodies, _same

_INT = re.compile(r"-?[0-9]+")
_NUMBER = r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,3})?"
_TRICKY = ["0", "-0", "-0.0", "0e0", "-0e5", "0.000", "1e-400", "5e-324", "4.9e-324",
           "2.2250738585072014e-308", "1.7976931348623157e308", "9007199254740993",
           "18446744073709551615", "18446744073709551616", "-9223372036854775809",
           "123456789012345678901234", "0.1", "0.30000000000000004", "1e22", "1e23",
           "123456789012345e-22", "1234567890123456e-10", "147.0", "3.4028235e38",
           "1.00000000000000011102230246251565404236316680908203125", "1e-22", "7e-23"]


@contextlib.contextmanager
def python_route() -> Iterator[None]:
    """Run the fast path without simdjson (the orjson route alone)."""
    saved = json_numeric.simdjson
    json_numeric.simdjson = None
    try:
        yield
    finally:
        json_numeric.simdjson = saved


def native(text: bytes):
    """``(shape, float64 values)`` from the simdjson step, or None."""
    return json_numeric._simd_numbers(text)


def _past_64_bits(tokens: list[str]) -> bool:
    """An integer token simdjson refuses (beyond int64/uint64) but orjson reads as a float."""
    return any(
        _INT.fullmatch(t) and not -(2**63) <= int(t) < 2**64 for t in tokens
    )


def _bits(values) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


def _expected(text: str) -> list[float] | None:
    """orjson's values as floats, or None where orjson refuses the text."""
    try:
        return [float(v) for v in orjson.loads(text)]
    except orjson.JSONDecodeError:
        return None


def test_serve_install_has_simdjson() -> None:
    assert json_numeric.simdjson is not None, "the [serve] extra installs pysimdjson"


@pytest.mark.parametrize("token", _TRICKY)
def test_tricky_numbers_equal_orjson(token: str) -> None:
    text = f"[{token}, {token}]"
    expected = _expected(text)
    parsed = native(text.encode())
    if expected is None:
        assert parsed is None
        return
    if parsed is None:  # allowed: values that are not finite, integers past 64 bits
        assert not all(np.isfinite(expected)) or _past_64_bits([token])
        return
    shape, data = parsed
    assert shape == (2,)
    assert _bits(data) == _bits(expected)


@settings(max_examples=3000, deadline=None)
@given(tokens=st.lists(st.from_regex(_NUMBER, fullmatch=True), min_size=1, max_size=8))
def test_random_json_numbers_equal_orjson(tokens: list[str]) -> None:
    text = "[" + ",".join(tokens) + "]"
    expected = _expected(text)
    parsed = native(text.encode())
    if parsed is None:
        assert expected is None or not np.all(np.isfinite(expected)) or _past_64_bits(tokens)
        return
    assert expected is not None
    assert _bits(parsed[1]) == _bits(expected)


@settings(max_examples=1000, deadline=None)
@given(values=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1,
                       max_size=32))
def test_float_reprs_round_trip(values: list[float]) -> None:
    parsed = native(orjson.dumps(values))
    assert parsed is not None
    assert _bits(parsed[1]) == _bits(values)


@pytest.mark.parametrize(
    "text",
    ["[]", "[[1], []]", "[[1, 2], [3]]", "[1, [2]]", "[[1], 2]", "[01]", "[1.]", "[.5]",
     "[+1]", "[1e]", "[-]", "[1,]", "[,1]", "[1 2]", "[1]]", "[[1]", "[NaN]", "[1e400]",
     "x[1]", "[1] x", '["1"]', "[true]", "[1" + "0" * 500 + "]", "[" * 64 + "1" + "]" * 64],
)
def test_refuses_what_it_does_not_take(text: str) -> None:
    assert native(text.encode()) is None


def test_long_numbers_are_exact() -> None:
    long_reprs = [0.1 + i * 1e-9 for i in range(1000)]  # 17 significant digits
    parsed = native(orjson.dumps(long_reprs))
    assert parsed is not None and _bits(parsed[1]) == _bits(long_reprs)
    body = orjson.dumps({"instances": long_reprs})
    fast = json_numeric.parse_numeric_body(body, lambda signature: {"x": dt.DT_DOUBLE})
    assert fast is not None and fast[2].tolist() == long_reprs


def test_shape_and_whitespace() -> None:
    text = b' [ [ [1 ,2] ,\n[3,\t4] ] , [[5,6],[7,8]] ]\r\n'
    shape, data = native(text)
    assert shape == (2, 2, 2)
    assert data.tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    deepest = "[" * 63 + "1" + "]" * 63
    assert native(deepest.encode())[0] == (1,) * 63


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=_bodies(), dtype=st.sampled_from(_DTYPES))
def test_both_routes_give_the_general_result(body: str, dtype: int) -> None:
    raw = body.encode()
    dtypes = {"x": dtype}
    fast = json_numeric.parse_numeric_body(raw, lambda signature: dtypes)
    with python_route():
        slow = json_numeric.parse_numeric_body(raw, lambda signature: dtypes)
    assert (fast is None) == (slow is None), body
    try:
        general = parse_predict_general(raw, lambda signature: dtypes)
    except ServingError:
        assert fast is None, body
        return
    if fast is not None:
        _same(fast, general)
        _same(slow, general)


def test_client_resized_image_through_both_routes() -> None:
    images = (np.random.default_rng(1).random((2, 32, 32, 3)) * 255).astype(np.float32)
    body = encode_predict_request(images, signature_name="serving_default")
    for dtype in (dt.DT_FLOAT, dt.DT_DOUBLE):
        fast = json_numeric.parse_numeric_body(body, lambda signature, d=dtype: {"image": d})
        with python_route():
            slow = json_numeric.parse_numeric_body(body, lambda signature, d=dtype: {"image": d})
        assert fast[2].dtype == slow[2].dtype
        assert np.array_equal(fast[2], slow[2])
        assert fast[2].flags.writeable
    assert np.array_equal(fast[2].astype(np.float32), images)


def test_parses_in_threads_at_once() -> None:
    """Each thread has its own simdjson parser: threads parsing at once agree."""
    from concurrent.futures import ThreadPoolExecutor

    values = [1.5, 3.25, 147.0, -2.5e-7] * 5000
    text = orjson.dumps([values[i : i + 4] for i in range(0, len(values), 4)])
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: native(text), range(16)))
    assert all(r is not None and r[0] == (5000, 4) for r in results)
    assert all(_bits(r[1]) == _bits(values) for r in results)
