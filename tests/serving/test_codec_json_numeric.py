"""The byte-level fast path for all-number predict bodies gives exactly the general result."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.codecs import dtypes as dt
from serving.codecs.json_codec import (
    encode_predict_request,
    parse_predict_general,
    parse_predict_request,
)
from serving.codecs.json_numeric import parse_numeric_body
from serving.errors import InvalidArgument, ServingError

_DTYPES = [dt.DT_FLOAT, dt.DT_DOUBLE, dt.DT_INT32, dt.DT_INT64, dt.DT_UINT8, dt.DT_UINT64,
           dt.DT_HALF, dt.DT_BOOL]
_TOKENS = ["0", "-0", "1", "255", "-3", "0.5", "1e3", "1E-5", "-2.5e+2", "1e400", "3.0",
           "2147483648", "18446744073709551615", "9223372036854775808", "1" * 30,
           "01", "1.", ".5", "+1", "-", "1e", "--1", "1.2.3", "NaN", "true", '"1"', ""]
_WS = st.sampled_from(["", "", " ", "\n  ", "\t"])


def _same(fast, general) -> None:
    signature, key, tensor, alias = fast
    assert signature == general.signature_name
    assert (key == "instances") == general.row_format
    assert list(general.inputs) == [alias]
    ref = general.inputs[alias]
    assert tensor.dtype == ref.dtype and tensor.shape == ref.shape
    assert np.array_equal(tensor, ref, equal_nan=True)


@st.composite
def _arrays(draw, depth: int = 0) -> str:
    """Nested lists, mostly regular, sometimes ragged, malformed or non-numeric."""
    ws = draw(_WS)
    if depth >= draw(st.integers(1, 3)) or draw(st.integers(0, 19)) == 0:
        if draw(st.integers(0, 19)) == 0:
            return draw(st.sampled_from(_TOKENS))
        return repr(draw(st.one_of(st.integers(-300, 300), st.floats(-1e6, 1e6, width=32))))
    size = draw(st.integers(0, 3) if draw(st.integers(0, 9)) == 0 else st.integers(1, 3))
    items = [draw(_arrays(depth + 1)) for _ in range(size)]
    if items and draw(st.integers(0, 4)):  # mostly a regular block: repeat the first item
        items = [items[0]] * size
    sep = draw(st.sampled_from([",", ", ", " ,", ",\n"] * 5 + [",,"]))
    return ws + "[" + sep.join(items) + "]" + ws


@st.composite
def _bodies(draw) -> str:
    key = draw(st.sampled_from(["instances", "inputs"] * 4 + ["instance"]))
    name = draw(st.sampled_from(["", "serve_raw", "a/b-1.x"] * 3 + ['q"uote', "NaN"]))
    where = draw(st.sampled_from(["none", "head", "tail", "both"]))
    ws = draw(_WS)
    member = f'"signature_name"{ws}:{ws}"{name}"'
    value = draw(_arrays())
    parts = [f'"{key}"{ws}:{value}']
    if where in ("head", "both"):
        parts.insert(0, member)
    if where in ("tail", "both"):
        parts.append(member)
    tail = draw(st.sampled_from(["", "\n"] * 4 + [" x", "]"]))
    return ws + "{" + ws + ("," + ws).join(parts) + "}" + tail


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=_bodies(), dtype=st.sampled_from(_DTYPES))
def test_fast_path_result_equals_the_general_path(body: str, dtype: int) -> None:
    raw = body.encode()
    dtypes = {"x": dtype}
    fast = parse_numeric_body(raw, lambda signature: dtypes)
    try:
        general = parse_predict_general(raw, lambda signature: dtypes)
    except ServingError:
        assert fast is None, body  # every error is the general path's
        return
    if fast is not None:
        _same(fast, general)


def test_client_resized_image_takes_the_fast_path() -> None:
    rng = np.random.default_rng(0)
    images = (rng.random((2, 64, 64, 3)) * 255).astype(np.float32)
    for columnar in (False, True):
        body = encode_predict_request(images, columnar=columnar, signature_name="serving_default")
        fast = parse_numeric_body(body, lambda signature: {"image": dt.DT_FLOAT})
        assert fast is not None
        _same(fast, parse_predict_general(body, lambda signature: {"image": dt.DT_FLOAT}))
        assert np.array_equal(fast[2], images)


@pytest.mark.parametrize(
    "body",
    [
        '{"instances": [[1, 2], [3]]}',  # ragged
        '{"instances": [[1, 2], [3, 4]], "inputs": [1]}',  # both keys
        '{"instances": [NaN, 1]}',  # NaN: the general path accepts it
        '{"instances": [true, 1]}',
        '{"instances": [[1, 2]] } trailing',
        '{"instances": []}',
        '{"signature_name": 3, "instances": [1]}',
    ],
)
def test_unusual_bodies_fall_back(body: str) -> None:
    assert parse_numeric_body(body.encode(), lambda signature: {"x": dt.DT_FLOAT}) is None


def test_signature_is_looked_up_only_for_valid_json() -> None:
    def unknown(signature: str) -> dict[str, int]:
        raise InvalidArgument(f'Serving signature name: "{signature}" not found in signature def')

    body = b'{"signature_name": "nope", "instances": [1,,2]}'
    with pytest.raises(ServingError) as info:
        parse_predict_request(body, unknown)
    assert info.value.message.startswith("JSON Parse error: Invalid value.")
    with pytest.raises(ServingError, match="not found in signature def"):
        parse_predict_request(b'{"signature_name": "nope", "instances": [1, 2]}', unknown)


def test_multi_input_signature_uses_the_general_rules() -> None:
    dtypes = {"a": dt.DT_FLOAT, "b": dt.DT_FLOAT}
    body = json.dumps({"instances": [[1.0, 2.0]]}).encode()
    assert parse_numeric_body(body, lambda signature: dtypes) is None
    with pytest.raises(ServingError, match="instances is a plain list"):
        parse_predict_request(body, lambda signature: dtypes)
