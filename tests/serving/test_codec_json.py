"""The numpy-only REST JSON codec: parsing rules, messages, float text, layout, client half."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from serving.codecs.dtypes import DT_BOOL, DT_FLOAT, DT_HALF, DT_INT32, DT_INT64, DT_STRING
from serving.codecs.json_codec import (
    decode_predict_response,
    encode_predict_request,
    format_predict_response,
    parse_predict_request,
)
from serving.codecs.json_text import format_decimal, format_floats, value_to_string
from serving.errors import Code, ServingError


def parse(body: str | bytes, dtypes=None):
    dtypes = dtypes or {"x": DT_FLOAT}
    raw = body.encode() if isinstance(body, str) else body
    return parse_predict_request(raw, lambda signature: dtypes)


def failure(body, dtypes=None) -> ServingError:
    with pytest.raises(ServingError) as info:
        parse(body, dtypes)
    return info.value


def test_codecs_import_without_tensorflow():
    code = (
        "import sys; import serving.codecs.json_codec, serving.codecs.json_examples, "
        "serving.codecs.tensor_proto, serving.codecs.tf_example; "
        "assert 'tensorflow' not in sys.modules and 'tensorflow_serving' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.0, "3.0"), (3.5, "3.5"), (0.1, "0.1"), (9e6, "9e+06"), (3e-5, "3e-05"),
        (1.2345678, "1.23456776"), (-0.0, "-0.0"), (100000.0, "100000.0"), (1e6, "1e+06"),
        (float("nan"), "NaN"), (float("inf"), "Infinity"), (float("-inf"), "-Infinity"),
    ],
)
def test_float32_text_matches_write_decimal(value, text):
    assert format_decimal(value) == text
    assert format_floats(np.array([value], np.float32)) == [text]


def test_float64_uses_17_digits_when_six_do_not_round_trip():
    assert format_floats(np.array([0.1, 1 / 3, 2.0])) == ["0.1", "0.33333333333333331", "2.0"]


def test_values_in_messages_are_rendered_like_rapidjson():
    expected = '{\n    "a": [\n        1,\n        2.5,\n        "s"\n    ]\n}'
    assert value_to_string({"a": [1, 2.5, "s"]}) == expected
    assert value_to_string(1e39) == "1e+39"
    assert value_to_string([1e30]) == "[\n    1e30\n]"


def test_row_and_columnar_parsing():
    row = parse('{"instances": [[1, 2.5], [3, 4]]}')
    assert row.row_format and row.inputs["x"].dtype == np.float32
    np.testing.assert_array_equal(row.inputs["x"], [[1, 2.5], [3, 4]])
    col = parse('{"signature_name": "s", "inputs": 5.0}')
    assert not col.row_format and col.signature_name == "s" and col.inputs["x"].shape == ()
    named = parse(
        '{"instances": [{"a": 1, "b": "u"}, {"a": 2, "b": {"b64": "aGk="}}]}',
        {"a": DT_INT64, "b": DT_STRING},
    )
    assert named.inputs["a"].tolist() == [1, 2] and named.inputs["b"].tolist() == [b"u", b"hi"]
    extra = parse('{"inputs": {"a": [true], "ignored": 1}}', {"a": DT_BOOL})
    assert extra.inputs["a"].dtype == np.bool_


def test_large_plain_body_takes_the_vectorised_path_and_matches():
    images = np.random.default_rng(0).random((2, 16, 16, 3)).round(4)
    body = json.dumps({"instances": images.tolist()})
    parsed = parse(body).inputs["x"]
    np.testing.assert_array_equal(parsed, images.astype(np.float32))


def test_out_of_range_float_becomes_infinity_and_int32_range_is_checked():
    assert parse('{"inputs": [1e39]}').inputs["x"][0] == np.inf
    err = failure('{"inputs": [3000000000]}', {"x": DT_INT32})
    assert err.message == "JSON Value: 3000000000 Type: Number is not of expected type: int32"


@pytest.mark.parametrize(
    ("body", "dtypes", "code", "message"),
    [
        ('{"instances": [1, true]}', None, Code.INVALID_ARGUMENT,
         "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
         "JSON Value: true Type: True is not of expected type: float"),
        ('{"instances": [[1], [1, 2]]}', None, Code.INVALID_ARGUMENT,
         "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
         "Expecting tensor size: 1 but got: 2"),
        ('{"instances": [[1, 2], [[1], [2]]]}', None, Code.INVALID_ARGUMENT,
         "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
         "Expecting shape [2] but got: [2,1]"),
        ('{"inputs": [[1, 2], [3]]}', None, Code.INVALID_ARGUMENT,
         "Encountered list at unexpected size: 1 at level: 1 expected size: 2"),
        ('{"inputs": [[1], 2]}', None, Code.INVALID_ARGUMENT,
         "JSON Value: 2 found at incorrect level: 2 in the JSON DOM. Expected at level: 2"),
        ('{"inputs": [1.5]}', {"x": DT_HALF}, Code.UNIMPLEMENTED,
         "Conversion of JSON Value: 1.5 to type: half"),
        ('{"instances": [1.5]}', {"x": DT_HALF}, Code.INVALID_ARGUMENT,
         "Failed to process element: 0 of 'instances' list. Error: UNIMPLEMENTED: "
         "Conversion of JSON Value: 1.5 to type: half"),
        ('{"inputs": [{"b64": "a-_"}]}', {"x": DT_STRING}, Code.INVALID_ARGUMENT,
         "Unable to base64 decode"),
        ('{"inputs": [1, 2]}', {"a": DT_FLOAT, "b": DT_FLOAT}, Code.INVALID_ARGUMENT,
         "inputs is a plain value/list, but expecting an object as multiple input tensors "
         "required as per tensorinfo_map"),
        ('{"instances": [1, 2]}', {"a": DT_FLOAT, "b": DT_FLOAT}, Code.INVALID_ARGUMENT,
         "instances is a plain list, but expecting list of objects as multiple input tensors "
         "required as per tensorinfo_map"),
        ('{"instances": [{"a": 1}]}', {"a": DT_FLOAT, "b": DT_FLOAT}, Code.INVALID_ARGUMENT,
         "Failed to process element: 0 of 'instances' list. JSON object: {\n    \"a\": 1\n} "
         "keys must be equal to: a,b"),
        ('{"instances": [[1], {"x": 1}]}', None, Code.INVALID_ARGUMENT,
         "Expecting value/list but got object at item 1 of input list"),
        ('{"instances": [1, 2], "inputs": [1]}', None, Code.INVALID_ARGUMENT,
         'JSON Value: {\n    "instances": [\n        1,\n        2\n    ],\n    "inputs": [\n'
         "        1\n    ]\n} Not formatted correctly expecting only one of 'inputs' or "
         "'instances' keys to exist "),
        ("[1]", None, Code.INVALID_ARGUMENT, "JSON Value: [\n    1\n] Is not object"),
        ('{"instances": [1,]}', None, Code.INVALID_ARGUMENT,
         "JSON Parse error: Invalid value. at offset: 17"),
        ('{"a" 1}', None, Code.INVALID_ARGUMENT,
         "JSON Parse error: Missing a colon after a name of object member. at offset: 5"),
    ],
)
def test_error_messages(body, dtypes, code, message):
    err = failure(body, dtypes)
    assert (err.code, err.message) == (code, message)


def test_response_layout_row_multi_output_and_bytes():
    body = format_predict_response(
        {"b": np.array([1, 2], np.int64), "a_bytes": np.array([b"x", b"y"], dtype=object)}, True
    )
    assert body == (
        b'{\n    "predictions": [\n        {\n            "a_bytes": {\n                "b64": '
        b'"eA=="\n            },\n            "b": 1\n        },\n        {\n            '
        b'"a_bytes": {\n                "b64": "eQ=="\n            },\n            "b": 2\n'
        b"        }\n    ]\n}"
    )
    empty = format_predict_response({"y": np.zeros((0, 2), np.float32)}, True)
    assert json.loads(empty) == {"predictions": []}


def test_response_errors():
    with pytest.raises(ServingError, match="has no shape information"):
        format_predict_response({"y": np.float32(1)}, True)
    with pytest.raises(ServingError, match="inconsistent batch size: 1 expecting: 2"):
        format_predict_response({"a": np.zeros(2), "b": np.zeros(1)}, True)
    with pytest.raises(ServingError, match="Failed to write JSON value for tensor type: half"):
        format_predict_response({"y": np.zeros(2, np.float16)}, False)


def test_client_round_trip():
    images = np.arange(12, dtype=np.float32).reshape(2, 2, 3) / 7
    body = encode_predict_request(images, signature_name="serving_default")
    parsed = parse(body)
    np.testing.assert_array_equal(parsed.inputs["x"], images)
    columnar = encode_predict_request({"x": np.array([np.nan, 1.5], np.float32)}, columnar=True)
    assert np.isnan(parse(columnar).inputs["x"][0])
    response = format_predict_response({"y": images, "ids_bytes": np.array([b"a", b"b"], object)},
                                       True)
    decoded = decode_predict_response(response)
    np.testing.assert_array_equal(decoded["y"], images)
    assert decoded["ids_bytes"].tolist() == [b"a", b"b"]
    with pytest.raises(ServingError, match="boom"):
        decode_predict_response(b'{"error": "boom"}')
