"""The declared wire schema (common/wire): current, faithful to TF Serving's, and
usable in one process together with TensorFlow's own registered protos."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from common import wire

# Declared on purpose without these upstream fields (see the comments in the .proto files).
OMITTED = {("tensorflow.TensorInfo", "composite_tensor"),
           ("tensorflow.serving.PredictionLog", "session_run_log")}
TFS_MODULES = ["predict_pb2", "classification_pb2", "regression_pb2", "inference_pb2",
               "get_model_metadata_pb2", "get_model_status_pb2", "model_management_pb2",
               "prediction_log_pb2"]


def test_committed_schema_is_what_protoc_generates() -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools is a dev dependency")
    from common.wire.build import SCHEMA_FILE, build_descriptor_set

    assert SCHEMA_FILE.read_bytes() == build_descriptor_set(), (
        "common/wire/schema.binpb is stale: run python -m common.wire.build")


def test_messages_keep_tf_serving_names_and_services() -> None:
    assert wire.PredictRequest.DESCRIPTOR.full_name == "tensorflow.serving.PredictRequest"
    assert wire.TensorProto.DESCRIPTOR.full_name == "tensorflow.TensorProto"
    methods = wire.services()
    assert set(methods["tensorflow.serving.PredictionService"]) == {
        "Classify", "Regress", "Predict", "MultiInference", "GetModelMetadata"}
    assert set(methods["tensorflow.serving.ModelService"]) == {
        "GetModelStatus", "HandleReloadConfigRequest"}
    response = wire.GetModelMetadataResponse()
    response.metadata["signature_def"].Pack(wire.SignatureDefMap())
    assert (response.metadata["signature_def"].type_url
            == "type.googleapis.com/tensorflow.serving.SignatureDefMap")
    with pytest.raises(AttributeError, match="no message 'NoSuchThing'"):
        _ = wire.NoSuchThing


def _fields(descriptor) -> dict[str, tuple]:
    return {f.name: (f.number, f.type, f.is_repeated,
                     (f.message_type or f.enum_type).full_name
                     if (f.message_type or f.enum_type) else None)
            for f in descriptor.fields}


def _walk(descriptor):
    yield descriptor
    for nested in descriptor.nested_types:
        yield from _walk(nested)


def test_schema_matches_installed_tensorflow_serving_api() -> None:
    """Every message we declare that tensorflow-serving-api / TensorFlow also ship has the same
    fields (name, number, type, cardinality), apart from the documented omissions."""
    import importlib

    pytest.importorskip("tensorflow_serving", reason="tensorflow-serving-api is in the dev extra")
    from google.protobuf import descriptor_pool

    for name in TFS_MODULES:
        importlib.import_module(f"tensorflow_serving.apis.{name}")
    importlib.import_module("tensorflow_serving.config.model_server_config_pb2")
    importlib.import_module("tensorflow.core.protobuf.meta_graph_pb2")
    theirs_pool = descriptor_pool.Default()
    compared = 0
    from google.protobuf import descriptor_pb2

    files = descriptor_pb2.FileDescriptorSet.FromString(wire.SCHEMA_FILE.read_bytes())
    for file_proto in files.file:
        if file_proto.package.startswith("google.protobuf"):
            continue
        for top in file_proto.message_type:
            ours_top = wire.pool().FindMessageTypeByName(f"{file_proto.package}.{top.name}")
            for ours in _walk(ours_top):
                try:
                    theirs = theirs_pool.FindMessageTypeByName(ours.full_name)
                except KeyError:
                    continue  # not shipped by the wheels (config protos): checked by parsing
                mine, upstream = _fields(ours), _fields(theirs)
                missing = {n for n in upstream if n not in mine} - {
                    n for (m, n) in OMITTED if m == ours.full_name}
                assert not missing, f"{ours.full_name}: fields missing {missing}"
                for field_name, spec in mine.items():
                    assert upstream.get(field_name) == spec, f"{ours.full_name}.{field_name}"
                compared += 1
    assert compared >= 40


def test_coexists_with_tensorflow_in_one_process() -> None:
    """Our pool first, then TensorFlow + tensorflow_serving (which register the same names in
    the default pool), then both used on the same bytes."""
    pytest.importorskip("tensorflow_serving", reason="tensorflow-serving-api is in the dev extra")
    code = textwrap.dedent("""
        from common import wire
        ours = wire.PredictRequest()
        ours.model_spec.name = "toy"
        ours.model_spec.version.value = 7
        ours.inputs["x"].dtype = 1
        ours.inputs["x"].tensor_shape.dim.add().size = 2
        ours.inputs["x"].float_val.extend([1.5, 2.5])
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
        from tensorflow.core.example import example_pb2
        theirs = predict_pb2.PredictRequest.FromString(ours.SerializeToString())
        assert theirs.model_spec.version.value == 7
        assert list(theirs.inputs["x"].float_val) == [1.5, 2.5]
        assert tf.make_ndarray(theirs.inputs["x"]).tolist() == [1.5, 2.5]
        back = wire.convert(theirs, wire.PredictRequest)
        assert back == ours and type(back) is not type(theirs)
        example = example_pb2.Example()
        example.features.feature["a"].int64_list.value.append(3)
        assert wire.Example.FromString(example.SerializeToString()).features.feature[
            "a"].int64_list.value[0] == 3
        assert wire.TensorProto is not tf.make_tensor_proto(1.0).__class__
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


@pytest.mark.parametrize("text, message", [
    ("max_batch_size { value: 8 } enable_large_batch_splitting { value: true }",
     "BatchingParameters"),
    ('server_key: "k" server_cert: "c" custom_ca: "a" client_verify: true', "SSLConfig"),
    ('prometheus_config { enable: true path: "/m" }', "MonitoringConfig"),
])
def test_config_text_protos_parse(text: str, message: str) -> None:
    from google.protobuf import text_format

    parsed = text_format.Parse(text, getattr(wire, message)())
    assert text_format.MessageToString(parsed, as_one_line=True).split() == text.split()
