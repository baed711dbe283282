"""The optional C parser of the REST fast path (``serving.codecs._jsonarray``).

It must accept only valid JSON, give exactly orjson's values (as float64), and leave every
body it does not take to the Python route; the fast path must give the same tensors with and
without it.
"""

from __future__ import annotations

import contextlib
import shutil
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

native = json_numeric._jsonarray
needs_native = pytest.mark.skipif(native is None, reason="the C extension is not built")
_NUMBER = r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,24})?([eE][+-]?[0-9]{1,3})?"
_TRICKY = ["0", "-0", "-0.0", "0e0", "-0e5", "0.000", "1e-400", "5e-324", "4.9e-324",
           "2.2250738585072014e-308", "1.7976931348623157e308", "9007199254740993",
           "18446744073709551615", "18446744073709551616", "-9223372036854775809",
           "123456789012345678901234", "0.1", "0.30000000000000004", "1e22", "1e23",
           "123456789012345e-22", "1234567890123456e-10", "147.0", "3.4028235e38",
           "1.00000000000000011102230246251565404236316680908203125", "1e-22", "7e-23"]


@contextlib.contextmanager
def python_route() -> Iterator[None]:
    """Run the fast path without the C extension."""
    saved = json_numeric._jsonarray
    json_numeric._jsonarray = None
    try:
        yield
    finally:
        json_numeric._jsonarray = saved


def _bits(values) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


def _expected(text: str) -> list[float] | None:
    """orjson's values as floats, or None where orjson refuses the text."""
    try:
        return [float(v) for v in orjson.loads(text)]
    except orjson.JSONDecodeError:
        return None


def test_extension_is_built_where_a_compiler_exists() -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here: the Python route serves alone")
    assert native is not None, "setup.py should have built serving.codecs._jsonarray"


@needs_native
@pytest.mark.parametrize("token", _TRICKY)
def test_tricky_numbers_equal_orjson(token: str) -> None:
    text = f"[{token}, {token}]"
    expected = _expected(text)
    parsed = native.parse(text.encode())
    if expected is None:
        assert parsed is None
        return
    if parsed is None:  # allowed: only values that are not finite are left to Python
        assert not all(np.isfinite(expected))
        return
    shape, data = parsed
    assert shape == (2,)
    assert _bits(np.frombuffer(data, np.float64)) == _bits(expected)


@needs_native
@settings(max_examples=3000, deadline=None)
@given(tokens=st.lists(st.from_regex(_NUMBER, fullmatch=True), min_size=1, max_size=8))
def test_random_json_numbers_equal_orjson(tokens: list[str]) -> None:
    text = "[" + ",".join(tokens) + "]"
    expected = _expected(text)
    parsed = native.parse(text.encode())
    if parsed is None:
        assert expected is None or not np.all(np.isfinite(expected)) or max(map(len, tokens)) > 400
        return
    assert expected is not None
    assert _bits(np.frombuffer(parsed[1], np.float64)) == _bits(expected)


@needs_native
@settings(max_examples=1000, deadline=None)
@given(values=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1,
                       max_size=32))
def test_float_reprs_round_trip(values: list[float]) -> None:
    parsed = native.parse(orjson.dumps(values))
    assert parsed is not None
    assert _bits(np.frombuffer(parsed[1], np.float64)) == _bits(values)


@needs_native
@pytest.mark.parametrize(
    "text",
    ["[]", "[[1], []]", "[[1, 2], [3]]", "[1, [2]]", "[[1], 2]", "[01]", "[1.]", "[.5]",
     "[+1]", "[1e]", "[-]", "[1,]", "[,1]", "[1 2]", "[1]]", "[[1]", "[NaN]", "[1e400]",
     "x[1]", "[1] x", '["1"]', "[true]", "[1" + "0" * 500 + "]", "[" * 64 + "1" + "]" * 64],
)
def test_refuses_what_it_does_not_take(text: str) -> None:
    assert native.parse(text.encode()) is None


@needs_native
def test_many_long_numbers_are_left_to_the_python_route() -> None:
    long_reprs = [0.1 + i * 1e-9 for i in range(1000)]  # 17-digit reprs: the slow path
    assert native.parse(orjson.dumps(long_reprs)) is None
    body = orjson.dumps({"instances": long_reprs})
    fast = json_numeric.parse_numeric_body(body, lambda signature: {"x": dt.DT_DOUBLE})
    assert fast is not None and fast[2].tolist() == long_reprs


@needs_native
def test_shape_and_whitespace() -> None:
    text = b' [ [ [1 ,2] ,\n[3,\t4] ] , [[5,6],[7,8]] ]\r\n'
    shape, data = native.parse(text)
    assert shape == (2, 2, 2)
    assert np.frombuffer(data, np.float64).tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    deepest = "[" * 63 + "1" + "]" * 63
    assert native.parse(deepest.encode())[0] == (1,) * 63


@needs_native
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


@needs_native
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


@needs_native
def test_parses_in_threads_at_once() -> None:
    """The scan runs without the GIL and the slow path takes it back: threads agree."""
    from concurrent.futures import ThreadPoolExecutor

    values = [1.5, 3.25, 147.0, -2.5e-7] * 5000
    values[::2000] = [0.1 + 1e-12] * 10  # 17 significant digits: the slow path, 10 times
    text = orjson.dumps([values[i : i + 4] for i in range(0, len(values), 4)])
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: native.parse(text), range(16)))
    assert all(r is not None and r[0] == (5000, 4) for r in results)
    assert all(_bits(np.frombuffer(r[1], np.float64)) == _bits(values) for r in results)
