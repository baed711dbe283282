"""gRPC API on a free port: PredictionService and ModelService against half_plus_two."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from serving.codecs.tensor_proto import from_numpy, to_numpy


@pytest.fixture(scope="module")
def apis():
    from tensorflow_serving.apis import (
        classification_pb2,
        get_model_metadata_pb2,
        get_model_status_pb2,
        inference_pb2,
        model_management_pb2,
        predict_pb2,
        regression_pb2,
    )

    return {
        "predict": predict_pb2,
        "classify": classification_pb2,
        "regress": regression_pb2,
        "inference": inference_pb2,
        "metadata": get_model_metadata_pb2,
        "status": get_model_status_pb2,
        "management": model_management_pb2,
    }


@pytest.fixture(scope="module")
def stubs(server):
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{server['grpc']}")
    yield (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )
    channel.close()


def predict_request(apis, x, name="hp", version=None, label=None, signature=""):
    request = apis["predict"].PredictRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    if label:
        request.model_spec.version_label = label
    request.model_spec.signature_name = signature
    from_numpy(np.asarray(x, np.float32), request.inputs["x"])
    return request


def rpc_error(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(request)
    return info.value


def test_predict_answers_typed_float_val_and_model_spec(apis, stubs):
    response = stubs[0].Predict(predict_request(apis, [2.0], version=1))
    assert list(response.outputs["y"].float_val) == [3.0]
    assert not response.outputs["y"].tensor_content
    spec = response.model_spec
    assert (spec.name, spec.version.value, spec.signature_name) == ("hp", 1, "serving_default")


def test_predict_labels_latest_tensor_content_and_output_filter(apis, stubs):
    request = predict_request(apis, [[2.0, 4.0]], label="canary")
    request.inputs["x"].CopyFrom(from_numpy(np.array([[2.0, 4.0]], np.float32),
                                            type(request.inputs["x"]), tensor_content=True))
    request.output_filter.append("y")
    response = stubs[0].Predict(request)
    np.testing.assert_array_equal(to_numpy(response.outputs["y"]), [[4.0, 5.0]])
    assert response.model_spec.version.value == 2
    latest = stubs[0].Predict(predict_request(apis, [2.0]))
    assert latest.model_spec.version.value == 2


@pytest.mark.parametrize(
    ("mutate", "code", "details"),
    [
        (lambda r: r.ClearField("model_spec"), grpc.StatusCode.INVALID_ARGUMENT,
         "Missing ModelSpec"),
        (lambda r: setattr(r.model_spec, "name", "half"), grpc.StatusCode.NOT_FOUND,
         "Servable not found for request: Latest(half)"),
        (lambda r: r.model_spec.version.__setattr__("value", 9), grpc.StatusCode.NOT_FOUND,
         "Servable not found for request: Specific(hp, 9)"),
        (lambda r: setattr(r.model_spec, "version_label", "beta"),
         grpc.StatusCode.INVALID_ARGUMENT, "Unrecognized servable version label: beta"),
        (lambda r: setattr(r.model_spec, "signature_name", "nope"),
         grpc.StatusCode.FAILED_PRECONDITION, 'Serving signature key "nope" not found.'),
        (lambda r: r.output_filter.append("z"), grpc.StatusCode.INVALID_ARGUMENT,
         "output tensor alias not found in signature: z Outputs expected to be in the set {y}."),
        (lambda r: r.inputs["z"].CopyFrom(r.inputs["x"]), grpc.StatusCode.INVALID_ARGUMENT,
         "input size does not match signature: 2!=1 len({x,z}) != len({x}). Sent extra: {z}. "
         "Missing but required: {}."),
    ],
)
def test_predict_errors_carry_tf_serving_codes(apis, stubs, mutate, code, details):
    request = predict_request(apis, [1.0])
    mutate(request)
    err = rpc_error(stubs[0].Predict, request)
    assert (err.code(), err.details()) == (code, details)


def test_unix_socket_serves_the_same_api(apis, server):
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(f"unix:{server['unix']}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(predict_request(apis, [2.0], version=1))
    assert list(response.outputs["y"].float_val) == [3.0]


def test_long_error_messages_are_truncated_to_1024_chars(apis, stubs):
    request = predict_request(apis, [1.0], label="L" * 1500)
    details = rpc_error(stubs[0].Predict, request).details()
    assert len(details) == 1024 + len("...TRUNCATED") and details.endswith("...TRUNCATED")


def examples(apis, values):
    from tensorflow.core.example import example_pb2

    out = []
    for value in values:
        example = example_pb2.Example()
        example.features.feature["x"].float_list.value.append(value)
        out.append(example)
    return out


def test_classify_regress_and_multi_inference(apis, stubs):
    request = apis["classify"].ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = "hp", "classify_x_to_y"
    request.model_spec.version.value = 1
    request.input.example_list.examples.extend(examples(apis, [2.0, 20.0]))
    response = stubs[0].Classify(request)
    scores = [[c.score for c in row.classes] for row in response.result.classifications]
    assert scores == [[3.0], [12.0]] and response.model_spec.version.value == 1

    request = apis["regress"].RegressionRequest()
    request.model_spec.name, request.model_spec.signature_name = "hp", "regress_x_to_y"
    request.model_spec.version.value = 1
    request.input.example_list_with_context.context.features.feature["x"].float_list.value.append(
        80.0
    )
    request.input.example_list_with_context.examples.add()
    response = stubs[0].Regress(request)
    assert [r.value for r in response.result.regressions] == [42.0]

    multi = apis["inference"].MultiInferenceRequest()
    for signature, method in (("regress_x_to_y", "regress"), ("classify_x_to_y", "classify")):
        task = multi.tasks.add()
        task.model_spec.name, task.model_spec.signature_name = "hp", signature
        task.model_spec.version.value = 1
        task.method_name = f"tensorflow/serving/{method}"
    multi.input.example_list.examples.extend(examples(apis, [2.0]))
    results = stubs[0].MultiInference(multi).results
    assert results[0].regression_result.regressions[0].value == 3.0
    assert results[1].classification_result.classifications[0].classes[0].score == 3.0


def test_classify_unknown_signature_is_invalid_argument(apis, stubs):
    request = apis["classify"].ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = "hp", "nope"
    request.input.example_list.examples.extend(examples(apis, [2.0]))
    err = rpc_error(stubs[0].Classify, request)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "No signature was found with the name: nope"


def test_metadata_and_status(apis, stubs):
    from tensorflow_serving.apis import get_model_metadata_pb2

    request = apis["metadata"].GetModelMetadataRequest()
    request.model_spec.name = "hp"
    err = rpc_error(stubs[0].GetModelMetadata, request)
    assert err.details() == "GetModelMetadataRequest must specify at least one metadata_field"
    request.metadata_field.append("signature_def")
    response = stubs[0].GetModelMetadata(request)
    assert response.model_spec.version.value == 2 and list(response.metadata) == ["signature_def"]
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert "serving_default" in signatures.signature_def

    status_request = apis["status"].GetModelStatusRequest()
    status_request.model_spec.name = "hp"
    statuses = stubs[1].GetModelStatus(status_request).model_version_status
    assert [(s.version, s.state, s.status.error_code) for s in statuses] == [(2, 30, 0), (1, 30, 0)]
    status_request.model_spec.name = "nope"
    err = rpc_error(stubs[1].GetModelStatus, status_request)
    assert (err.code(), err.details()) == (
        grpc.StatusCode.NOT_FOUND, "Could not find any versions of model nope"
    )


def test_reload_config_with_the_same_list_keeps_serving(apis, stubs, models_config):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    request = apis["management"].ReloadConfigRequest()
    text_format.Parse(models_config.read_text(), request.config)
    request.metric_names.append("/tensorflow/serving/request_count")
    response = stubs[1].HandleReloadConfigRequest(request)
    assert response.status.error_code == 0
    assert [(m.name, m.int64_value_increase) for m in response.metric] == [
        ("/tensorflow/serving/request_count", 0)
    ]
    assert list(stubs[0].Predict(predict_request(apis, [2.0], label="stable")).outputs["y"]
                .float_val) == [3.0]
    assert isinstance(request.config, model_server_config_pb2.ModelServerConfig)


def test_reload_config_rejects_non_list_configs(apis, stubs):
    request = apis["management"].ReloadConfigRequest()
    request.config.custom_model_config.type_url = "x"
    err = rpc_error(stubs[1].HandleReloadConfigRequest, request)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("ServerModelConfig type not supported")
