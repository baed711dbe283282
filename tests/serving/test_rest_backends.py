"""One exported contract model served by all three backends: a client cannot tell them apart.

The same version directory (SavedModel + model.onnx + model.tflite) is served as ``m_tensorflow``,
``m_onnx`` and ``m_tflite``; REST and gRPC answers must have the same keys, dtypes, shapes,
labels and (within float tolerance) values.
"""

from __future__ import annotations

import base64
import json

import grpc
import numpy as np
import pytest

from serving.codecs.json_codec import decode_predict_response, encode_predict_request
from serving.codecs.tensor_proto import from_numpy, to_numpy
from tests.serving.conftest import RestClient
from tests.serving.contract_models import IMAGE_SIZE, png_bytes, write_contract_version

PLATFORMS = ("tensorflow", "onnx", "tflite")


@pytest.fixture(scope="module")
def backends_server(tmp_path_factory):
    from serving.app import BackgroundServer
    from serving.server_options import parse_flags

    base = tmp_path_factory.mktemp("contract") / "m"
    write_contract_version(base, 1)
    config = tmp_path_factory.mktemp("contract_config") / "models.config"
    entries = "".join(
        f'config {{ name: "m_{p}" base_path: "{base}" model_platform: "{p}" }}\n'
        for p in PLATFORMS
    )
    config.write_text(f"model_config_list {{\n{entries}}}\n")
    server = BackgroundServer(
        parse_flags(["--port=0", "--rest_api_port=auto", f"--model_config_file={config}",
                     "--file_system_poll_wait_seconds=0", "--drain_timeout_seconds=5"])
    )
    ports = server.start()
    yield ports
    server.stop()


@pytest.fixture(scope="module")
def client(backends_server):
    rest = RestClient(backends_server["rest"])
    yield rest
    rest.close()


def image(size: int = IMAGE_SIZE) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (size, size, 3)).astype(np.uint8)


def answers(client, body: bytes, verb: str = "predict") -> dict[str, object]:
    out = {}
    for platform in PLATFORMS:
        reply = client.post(f"/v1/models/m_{platform}:{verb}", body)
        assert reply.status == 200, (platform, reply.body)
        out[platform] = reply.body
    return out


def assert_same_outputs(decoded: dict[str, dict]) -> None:
    reference = decoded["tensorflow"]
    for platform in PLATFORMS[1:]:
        other = decoded[platform]
        assert set(other) == set(reference), platform
        for name in reference:
            assert other[name].shape == reference[name].shape, (platform, name)
            if reference[name].dtype.kind == "f":
                np.testing.assert_allclose(other[name], reference[name], atol=2e-4)
            else:
                assert other[name].tolist() == reference[name].tolist(), (platform, name)


def test_serving_default_rows_agree(client):
    body = encode_predict_request(image()[None].astype(np.float32))
    decoded = {p: decode_predict_response(b) for p, b in answers(client, body).items()}
    assert set(decoded["tensorflow"]) == {
        "probabilities", "top_k_scores", "top_k_classes", "top_k_ids"
    }
    assert_same_outputs(decoded)


def test_serve_raw_and_serve_bytes_agree(client):
    raw = encode_predict_request(image(23)[None], signature_name="serve_raw")
    assert_same_outputs({p: decode_predict_response(b) for p, b in answers(client, raw).items()})
    png = base64.b64encode(png_bytes(image(20))).decode()
    body = json.dumps(
        {"signature_name": "serve_bytes", "instances": [{"b64": png}]}
    ).encode()
    assert_same_outputs({p: decode_predict_response(b) for p, b in answers(client, body).items()})


def test_classify_agrees(client):
    png = base64.b64encode(png_bytes(image())).decode()
    body = json.dumps(
        {"signature_name": "classify", "examples": [{"image/encoded": {"b64": png}}]}
    ).encode()
    results = {p: json.loads(b)["results"] for p, b in answers(client, body, "classify").items()}
    labels = {p: [pair[0] for pair in r[0]] for p, r in results.items()}
    assert labels["onnx"] == labels["tensorflow"] == labels["tflite"]
    scores = {p: [pair[1] for pair in r[0]] for p, r in results.items()}
    np.testing.assert_allclose(scores["onnx"], scores["tensorflow"], atol=2e-4)
    np.testing.assert_allclose(scores["tflite"], scores["tensorflow"], atol=2e-4)


def test_metadata_signatures_agree(client):
    def signatures(platform: str) -> dict:
        doc = client.get(f"/v1/models/m_{platform}/metadata").json()
        defs = doc["metadata"]["signature_def"]["signature_def"]
        defs.pop("__saved_model_init_op", None)
        for signature in defs.values():
            for tensors in (signature["inputs"], signature["outputs"]):
                for info in tensors.values():
                    info.pop("name", None)  # graph tensor names are backend-specific
        return defs

    reference = signatures("tensorflow")
    assert {"serving_default", "serve_raw", "serve_bytes", "classify"} <= set(reference)
    for platform in PLATFORMS[1:]:
        assert signatures(platform) == reference, platform


def test_grpc_predict_agrees(backends_server):
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{backends_server['grpc']}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    decoded = {}
    for platform in PLATFORMS:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = f"m_{platform}"
        from_numpy(image()[None].astype(np.float32), request.inputs["image"])
        response = stub.Predict(request)
        assert response.model_spec.signature_name == "serving_default"
        decoded[platform] = {k: to_numpy(v) for k, v in response.outputs.items()}
    channel.close()
    assert_same_outputs(decoded)
