"""REST API over a real loopback socket: TF Serving's numbers, bytes, routes and error codes.

Model ``hp``: version 1 = 0.5x + 2 (label ``stable``), version 2 = 0.5x + 3 (``canary``,
latest). Bodies are compared byte for byte with TF Serving's rapidjson layout.
"""

from __future__ import annotations

import gzip
import json

import pytest


def error(message: str) -> bytes:
    return b'{\n    "error": ' + json.dumps(message).encode() + b"\n}"


def test_predict_row_format_on_version_1_matches_tf_serving(rest):
    reply = rest.post("/v1/models/hp/versions/1:predict", '{"instances": [2.0, 3.0, 4.0]}')
    assert reply.status == 200
    assert reply.body == b'{\n    "predictions": [3.0, 3.5, 4.0\n    ]\n}'
    assert reply.json() == {"predictions": [3.0, 3.5, 4.0]}
    assert reply.headers["content-type"] == "application/json"


def test_predict_columnar_format(rest):
    reply = rest.post("/v1/models/hp/labels/stable:predict", '{"inputs": [2.0, 3.0, 4.0]}')
    assert reply.status == 200
    assert reply.body == b'{\n    "outputs": [\n        3.0,\n        3.5,\n        4.0\n    ]\n}'


def test_predict_nested_instances_and_signature_name(rest):
    reply = rest.post("/v1/models/hp/versions/1:predict", '{"instances": [[1.0, 2.0], [3.0, 4.0]]}')
    assert reply.body == b'{\n    "predictions": [[2.5, 3.0], [3.5, 4.0]\n    ]\n}'
    body = '{"signature_name": "serving_default", "inputs": [3.0, 4.0]}'
    assert rest.post("/v1/models/hp/versions/1:predict", body).json() == {"outputs": [3.5, 4.0]}


def test_latest_version_and_labels_route_to_the_right_model(rest):
    body = '{"instances": [1.0, 2.0, 5.0]}'
    assert rest.post("/v1/models/hp:predict", body).json() == {"predictions": [3.5, 4.0, 5.5]}
    assert rest.post("/v1/models/hp/labels/canary:predict", body).json()["predictions"] == [
        3.5, 4.0, 5.5
    ]
    assert rest.post("/v1/models/hp/labels/stable:predict", body).json()["predictions"] == [
        2.5, 3.0, 4.5
    ]


def test_classify_and_regress(rest):
    body = '{"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}'
    reply = rest.post("/v1/models/hp/versions/1:classify", body)
    assert reply.body == b'{\n    "results": [[["", 3.0]]\n    ]\n}'
    body = '{"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}, {"x": 80.0}]}'
    reply = rest.post("/v1/models/hp/versions/1:regress", body)
    assert reply.body == b'{\n    "results": [3.0, 42.0]\n}'
    body = '{"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}]}'
    assert rest.post("/v1/models/hp/versions/1:classify", body).json() == {"results": [[["", 12]]]}


def test_classify_with_context_merges_features(rest):
    body = (
        '{"signature_name": "regress_x_to_y", "context": {"x": 10.0}, '
        '"examples": [{}, {"x": 2.0}]}'
    )
    assert rest.post("/v1/models/hp/versions/1:regress", body).json() == {"results": [7.0, 3.0]}


def test_whole_number_feature_goes_to_int64_and_fails_like_tf_serving(rest):
    body = '{"signature_name": "regress_x_to_y", "examples": [{"x": 2}]}'
    reply = rest.post("/v1/models/hp/versions/1:regress", body)
    # TF Serving returns ParseExample's own message (not TF 2's "Graph execution error:").
    assert reply.status == 400
    assert reply.json()["error"] == (
        "Name: <unknown>, Key: x, Index: 0.  Data types don't match. "
        "Data type: int64 but expected type: float"
    )


def test_missing_required_feature_gets_the_op_message(rest):
    body = '{"signature_name": "regress_x_to_y", "examples": [{"y": 2.0}]}'
    reply = rest.post("/v1/models/hp/versions/1:regress", body)
    assert reply.status == 400
    assert reply.json()["error"] == (
        "Name: <unknown>, Feature: x (data type: float) is required but could not be found."
    )


def test_status_lists_versions_newest_first_and_ignores_labels(rest):
    expected = {
        "model_version_status": [
            {"version": v, "state": "AVAILABLE",
             "status": {"error_code": "OK", "error_message": ""}}
            for v in ("2", "1")
        ]
    }
    reply = rest.get("/v1/models/hp")
    assert reply.status == 200 and reply.json() == expected
    assert reply.body.startswith(b'{\n "model_version_status": [\n  {\n   "version": "2",')
    assert rest.get("/v1/models/hp/labels/no_such_label").json() == expected
    one = rest.get("/v1/models/hp/versions/1").json()["model_version_status"]
    assert [s["version"] for s in one] == ["1"]


def test_metadata_has_the_signature_map_twice_nested(rest):
    reply = rest.get("/v1/models/hp/labels/stable/metadata")
    assert reply.status == 200
    doc = reply.json()
    assert doc["model_spec"] == {"name": "hp", "signature_name": "", "version": "1"}
    signatures = doc["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "classify_x_to_y", "regress_x_to_y"} <= set(signatures)
    x = signatures["serving_default"]["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT" and x["tensor_shape"]["unknown_rank"] is True
    assert signatures["serving_default"]["method_name"] == "tensorflow/serving/predict"
    assert rest.get("/v1/models/hp/metadata").json()["model_spec"]["version"] == "2"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/v1/models/half:predict", '{"instances": [1.0]}', 404,
         "Servable not found for request: Latest(half)"),
        ("POST", "/v1/models/hp/versions/7:predict", '{"instances": [1.0]}', 404,
         "Servable not found for request: Specific(hp, 7)"),
        ("POST", "/v1/models/hp/labels/beta:predict", '{"instances": [1.0]}', 400,
         "Unrecognized servable version label: beta"),
        ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
        ("GET", "/v1/models/hp/versions/9", None, 404, "Could not find version 9 of model hp"),
        ("GET", "/v1/models", None, 400, "Missing model name in request."),
        ("GET", "/v1/models/hp:predict", None, 400, "Malformed request: GET /v1/models/hp:predict"),
        ("POST", "/v1/models/hp/version/1:predict", "{}", 400,
         "Malformed request: POST /v1/models/hp/version/1:predict"),
        ("POST", "/v1/models/hp/metadata", "{}", 400,
         "Malformed request: POST /v1/models/hp/metadata"),
        ("PUT", "/v1/models/hp:predict", "{}", 400, "Malformed request: PUT /v1/models/hp:predict"),
        ("POST", "/v1/models/hp/versions/99999999999999999999:predict", "{}", 400,
         "Failed to convert version: 99999999999999999999 to numeric."),
        ("POST", "/v1/models/hp:predict", "", 400, "JSON Parse error: The document is empty"),
        ("POST", "/v1/models/hp:predict", "instances = [1, 2]", 400,
         "JSON Parse error: Invalid value. at offset: 0"),
        ("POST", "/v1/models/hp:predict", '{"signature_name": "nope", "instances": [1.0]}', 400,
         'Serving signature name: "nope" not found in signature def'),
        ("POST", "/v1/models/hp:predict", '{"instances": [1, "a"]}', 400,
         "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: JSON Value: "
         '"a" Type: String is not of expected type: float'),
        ("POST", "/v1/models/hp:predict", '{"inputs": {"z": [1.0]}}', 400,
         "Missing named input: x in 'inputs' object."),
        ("POST", "/v1/models/hp:predict", '{"instances": [{"z": 1.0}]}', 400,
         "Failed to process element: 0 key: z of 'instances' list. Error: INVALID_ARGUMENT: "
         "JSON object: does not have named input: z"),
        ("POST", "/v1/models/hp:predict", '{"foo": 1}', 400, "Missing 'inputs' or 'instances' key"),
    ],
)
def test_error_bodies_and_codes(rest, method, path, body, status, message):
    reply = rest.request(method, path, body.encode() if body is not None else None)
    assert (reply.status, reply.body) == (status, error(message))
    assert reply.headers["content-type"] == "application/json"


def test_classify_on_a_predict_signature_explains_the_signature(rest):
    reply = rest.post("/v1/models/hp:classify", '{"examples": [{"x": 1.0}]}')
    assert reply.status == 400
    assert reply.json()["error"].startswith("No classification inputs found in SignatureDef: ")


def test_classify_unknown_signature_is_invalid_argument(rest):
    reply = rest.post("/v1/models/hp:classify", '{"signature_name": "s", "examples": [{"x": 1.0}]}')
    assert (reply.status, reply.body) == (400, error("No signature was found with the name: s"))


def test_non_v1_paths_get_libevent_404_html(rest):
    reply = rest.get("/index.html")
    assert reply.status == 404 and reply.body.startswith(b"<HTML><HEAD>\n<TITLE>404 Not Found")


def test_url_decoding_case_insensitive_routes_and_trailing_garbage(rest):
    reply = rest.post("/V1/MODELS/%68p/VERSIONS/1:predict", '{"instances": [2.0]} trailing')
    assert reply.json() == {"predictions": [3.0]}


def test_nan_infinity_and_float_formatting(rest):
    reply = rest.post(
        "/v1/models/hp/versions/1:predict",
        '{"inputs": [NaN, Infinity, -Infinity, 17999996, 0.1, 1e39]}',
    )
    assert reply.body == (
        b'{\n    "outputs": [\n        NaN,\n        Infinity,\n        -Infinity,\n'
        b'        9e+06,\n        2.05,\n        Infinity\n    ]\n}'
    )


def test_gzip_body(rest):
    body = gzip.compress(b'{"instances": [2.0]}')
    reply = rest.post("/v1/models/hp/versions/1:predict", body, {"Content-Encoding": "gzip"})
    assert reply.json() == {"predictions": [3.0]}


def test_body_over_max_request_bytes_gets_413_and_server_lives(rest, server):
    from tests.serving.conftest import RestClient

    big = RestClient(server["rest"])
    reply = big.post("/v1/models/hp:predict", b'{"instances": [' + b"1.0," * 400000 + b"1.0]}")
    assert reply.status == 413
    assert reply.json() == {
        "error": "Request body is larger than --max_request_bytes (1000000 bytes)"
    }
    big.close()
    assert rest.post("/v1/models/hp/versions/1:predict", '{"instances": [2.0]}').status == 200


def test_prometheus_page_counts_requests(rest):
    rest.post("/v1/models/hp/versions/1:predict", '{"instances": [2.0]}')
    page = rest.get("/monitoring/prometheus/metrics")
    assert page.status == 200 and page.headers["content-type"].startswith("text/plain")
    text = page.body.decode()
    assert "# TYPE :tensorflow:serving:request_count counter" in text
    assert ':tensorflow:serving:request_count{model_name="hp",status="OK"}' in text
    assert ':tensorflow:serving:request_count{model_name="half",status="NOT_FOUND"}' in text
    assert "# TYPE :tensorflow:serving:request_latency histogram" in text
    bucket = 'request_latency_bucket{model_name="hp",API="predict",entrypoint="REST",le="+Inf"}'
    assert bucket in text
