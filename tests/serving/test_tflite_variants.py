"""Quantized TFLite files served behind the same REST and gRPC API as the float model.

One contract version directory holds ``model.tflite`` and ``model_float16/_dynamic/_int8
.tflite``; each is served (``model_platform: "tflite:VARIANT"``) next to the SavedModel. A
client sends the same float requests to every one and gets float ``probabilities``, the same
output names and top-k, and the metadata names the file that is served.
"""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest

from serving.codecs.tensor_proto import from_numpy, to_numpy
from serving.errors import InvalidArgument
from serving.server_options import FlagError, parse_flags
from tests.serving.conftest import RestClient
from tests.serving.contract_models import (
    IMAGE_SIZE,
    LABELS,
    TOP_K,
    write_contract_version,
    write_tflite_variants,
)

VARIANTS = {"float32": "model.tflite", "float16": "model_float16.tflite",
            "dynamic": "model_dynamic.tflite", "int8": "model_int8.tflite"}
# |probability - SavedModel's| allowed per variant (int8 output steps are 1/256)
TOLERANCE = {"float32": 2e-5, "float16": 5e-3, "dynamic": 3e-2, "int8": 3e-2}


@pytest.fixture(scope="module")
def variants_server(tmp_path_factory):
    from serving.app import BackgroundServer

    base = tmp_path_factory.mktemp("variants") / "m"
    version = write_contract_version(base, 1)
    write_tflite_variants(version)
    config = tmp_path_factory.mktemp("variants_config") / "models.config"
    entries = [f'config {{ name: "ref" base_path: "{base}" model_platform: "tensorflow" }}']
    entries += [
        f'config {{ name: "m_{v}" base_path: "{base}" model_platform: "tflite:{v}" }}'
        for v in VARIANTS
    ]
    config.write_text("model_config_list {\n" + "\n".join(entries) + "\n}\n")
    server = BackgroundServer(
        parse_flags(["--port=0", "--rest_api_port=auto", f"--model_config_file={config}",
                     "--file_system_poll_wait_seconds=0", "--drain_timeout_seconds=5"])
    )
    ports = server.start()
    yield ports
    server.stop()


def images(n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (n, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)


def rest_predict(client: RestClient, model: str) -> dict:
    body = json.dumps({"inputs": {"image": images().tolist()}}).encode()
    reply = client.post(f"/v1/models/{model}:predict", body)
    assert reply.status == 200, reply.body
    return json.loads(reply.body)["outputs"]


def test_rest_every_variant(variants_server):
    client = RestClient(variants_server["rest"])
    try:
        reference = rest_predict(client, "ref")
        ref_probs = np.array(reference["probabilities"])
        for variant in VARIANTS:
            outputs = rest_predict(client, f"m_{variant}")
            assert set(outputs) == set(reference), variant
            probs = np.array(outputs["probabilities"])
            assert probs.dtype == np.float64 and probs.shape == ref_probs.shape  # JSON floats
            np.testing.assert_allclose(probs, ref_probs, atol=TOLERANCE[variant])
            ids = np.array(outputs["top_k_ids"])
            assert ids.shape == (len(ref_probs), TOP_K)
            np.testing.assert_array_equal(ids, np.argsort(-probs, axis=1, kind="stable")[:, :TOP_K])
            assert [row[0] for row in outputs["top_k_classes"]] == [LABELS[i] for i in ids[:, 0]]
            meta = client.get(f"/v1/models/m_{variant}/metadata")
            served = json.loads(meta.body)["metadata"]["served_file"]
            platform = "tflite" if variant == "float32" else f"tflite:{variant}"
            assert served == {"platform": platform, "file": VARIANTS[variant]}
        served = json.loads(client.get("/v1/models/ref/metadata").body)["metadata"]
        assert served["served_file"] == {"platform": "tensorflow", "file": "saved_model.pb"}
    finally:
        client.close()


def test_grpc_every_variant(variants_server):
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        predict_pb2,
        prediction_service_pb2_grpc,
    )

    channel = grpc.insecure_channel(f"127.0.0.1:{variants_server['grpc']}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

    def predict(model: str) -> dict[str, np.ndarray]:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        from_numpy(images(), request.inputs["image"])
        return {k: to_numpy(v) for k, v in stub.Predict(request).outputs.items()}

    try:
        reference = predict("ref")
        for variant in VARIANTS:
            outputs = predict(f"m_{variant}")
            assert set(outputs) == set(reference), variant
            assert outputs["probabilities"].dtype == np.float32
            np.testing.assert_allclose(
                outputs["probabilities"], reference["probabilities"], atol=TOLERANCE[variant]
            )
            assert outputs["top_k_ids"].dtype == np.int64
            request = get_model_metadata_pb2.GetModelMetadataRequest()
            request.model_spec.name = f"m_{variant}"
            request.metadata_field.extend(["signature_def", "served_file"])
            response = stub.GetModelMetadata(request)
            from google.protobuf import struct_pb2

            info = struct_pb2.Struct()
            assert response.metadata["served_file"].Unpack(info)
            assert dict(info) == {"platform": "tflite" if variant == "float32"
                                  else f"tflite:{variant}", "file": VARIANTS[variant]}
    finally:
        channel.close()


def test_int8_backend_quantizes_and_dequantizes(tmp_path):
    """The int8 file takes uint8 and returns uint8; the backend shows it as float32."""
    from serving.backends import create_backend

    version = write_contract_version(tmp_path / "m", 1)
    write_tflite_variants(version)
    backend = create_backend("tflite:int8")
    backend.load(version)
    assert backend.served_file == "model_int8.tflite"
    inputs = backend.signature_defs().signature_def["serving_default"].inputs
    assert inputs["image"].dtype == 1  # DT_FLOAT, as for the float model
    out = backend.predict("serving_default", {"image": images(2)})
    assert out["probabilities"].dtype == np.float32
    np.testing.assert_allclose(out["probabilities"].sum(1), 1.0, atol=0.03)
    backend.unload()


def test_variant_flag_and_config_errors(tmp_path):
    from serving.model_config import parse_model_config_text
    from serving.server_setup import load_model_configs

    options = parse_flags(["--model_platform=tflite", "--tflite_variant=int8",
                           f"--model_base_path={tmp_path}"])
    (config,) = load_model_configs(options)
    assert config.platform == "tflite:int8"
    with pytest.raises(FlagError, match="accepted: float32, float16, dynamic, int8"):
        parse_flags(["--model_platform=tflite", "--tflite_variant=int4",
                     f"--model_base_path={tmp_path}"])
    with pytest.raises(FlagError, match="needs --model_platform=tflite"):
        parse_flags(["--tflite_variant=int8", f"--model_base_path={tmp_path}"])
    with pytest.raises(InvalidArgument, match="unknown TFLite variant 'int4'"):
        parse_model_config_text(
            f'model_config_list {{ config {{ name: "m" base_path: "{tmp_path}" '
            'model_platform: "tflite:int4" } }'
        )
    with pytest.raises(InvalidArgument, match="unknown model_platform 'onnx:int8'"):
        parse_model_config_text(
            f'model_config_list {{ config {{ name: "m" base_path: "{tmp_path}" '
            'model_platform: "onnx:int8" } }'
        )
