"""SavedModel backend against the hand-written half_plus_two model (TF Serving's test model)."""

from __future__ import annotations

import numpy as np
import pytest

from serving.backends import BACKENDS, create_backend
from serving.errors import FailedPrecondition, InvalidArgument, NotFound, ServingError
from tests.serving.half_plus_two import write_half_plus


@pytest.fixture(scope="module")
def half_plus_two(tmp_path_factory):
    path = write_half_plus(tmp_path_factory.mktemp("hp2"), 123)
    backend = create_backend("tensorflow")
    backend.load(path)
    return backend


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory):
    """A model with inputs ``a`` ``[-1,2]`` and ``b`` ``[-1]``: ``d = a[:,0] - b``.

    The arguments are declared ``b, a`` so positional order differs from alias order."""
    import tensorflow as tf

    class TwoInputs(tf.Module):
        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.float32, name="b"),
                tf.TensorSpec([None, 2], tf.float32, name="a"),
            ]
        )
        def diff(self, b, a):
            return {"d": a[:, 0] - b, "s": a[:, 1] + b}

    module = TwoInputs()
    path = tmp_path_factory.mktemp("two") / "1"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.diff})
    backend = create_backend("tensorflow")
    backend.load(path)
    return backend


def test_registry_lists_accepted_platforms():
    assert set(BACKENDS) == {"tensorflow", "onnx", "tflite"}
    with pytest.raises(InvalidArgument, match="accepted: tensorflow, onnx, tflite"):
        create_backend("pytorch")


def test_metadata_is_the_metagraph_signature_map(half_plus_two):
    defs = half_plus_two.signature_defs()
    assert type(defs).DESCRIPTOR.full_name == "tensorflow.serving.SignatureDefMap"
    keys = set(defs.signature_def)
    assert keys == {"serving_default", "classify_x_to_y", "regress_x_to_y", "__saved_model_init_op"}
    x = defs.signature_def["serving_default"].inputs["x"]
    assert (x.name, x.dtype, x.tensor_shape.unknown_rank) == ("serving_default_x:0", 1, True)
    assert defs.signature_def["serving_default"].method_name == "tensorflow/serving/predict"
    init = defs.signature_def["__saved_model_init_op"]
    assert init.method_name == "" and init.outputs["__saved_model_init_op"].name == "NoOp"


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([2.0, 3.0, 4.0], [3.0, 3.5, 4.0]),
        ([[1.0, 2.0], [3.0, 4.0]], [[2.5, 3.0], [3.5, 4.0]]),
        (5.0, 4.5),
    ],
)
def test_predict_numbers(half_plus_two, x, y):
    out = half_plus_two.predict("serving_default", {"x": np.array(x, np.float32)})
    assert list(out) == ["y"]
    np.testing.assert_array_equal(out["y"], np.array(y, np.float32))


def test_empty_signature_name_means_serving_default(half_plus_two):
    out = half_plus_two.predict("", {"x": np.array([2.0], np.float32)})
    np.testing.assert_array_equal(out["y"], [3.0])


def test_classify_and_regress_on_examples(half_plus_two):
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature["x"].float_list.value.append(2.0)
    batch = np.array([example.SerializeToString()] * 2, dtype=object)
    scores = half_plus_two.predict("classify_x_to_y", {"inputs": batch})["scores"]
    np.testing.assert_array_equal(scores, [[3.0], [3.0]])
    outputs = half_plus_two.predict("regress_x_to_y", {"inputs": batch})["outputs"]
    np.testing.assert_array_equal(outputs, [3.0, 3.0])


def test_unknown_signature_is_failed_precondition(half_plus_two):
    with pytest.raises(FailedPrecondition) as err:
        half_plus_two.predict("nope", {"x": np.ones(1, np.float32)})
    assert err.value.message == 'Serving signature key "nope" not found.'


def test_input_count_mismatch_message(half_plus_two):
    with pytest.raises(InvalidArgument) as err:
        half_plus_two.predict(
            "serving_default", {"x": np.ones(1, np.float32), "z": np.ones(1, np.float32)}
        )
    assert err.value.message == (
        "input size does not match signature: 2!=1 len({x,z}) != len({x}). "
        "Sent extra: {z}. Missing but required: {}."
    )


def test_wrong_alias_message(half_plus_two):
    with pytest.raises(InvalidArgument) as err:
        half_plus_two.predict("serving_default", {"z": np.ones(1, np.float32)})
    assert err.value.message.startswith(
        "Signature input alias: x(feed name: serving_default_x:0) not found in request"
    )


@pytest.mark.parametrize(
    ("value", "given"),
    [(np.array([b"a"], dtype=object), "string"), (np.array([1], np.int32), "int32")],
)
def test_dtype_mismatch_message(half_plus_two, value, given):
    with pytest.raises(InvalidArgument) as err:
        half_plus_two.predict("serving_default", {"x": value})
    assert err.value.message == f"Expects arg[0] to be float but {given} is provided"


def test_output_filter(two_inputs):
    feeds = {"a": np.array([[5.0, 1.0]], np.float32), "b": np.array([2.0], np.float32)}
    assert list(two_inputs.predict("serving_default", feeds, ["s"])) == ["s"]
    with pytest.raises(InvalidArgument) as err:
        two_inputs.predict("serving_default", feeds, ["q"])
    assert err.value.message == (
        "output tensor alias not found in signature: q Outputs expected to be in the set {d,s}."
    )
    with pytest.raises(InvalidArgument, match="duplicate output tensor alias: d"):
        two_inputs.predict("serving_default", feeds, ["d", "d"])


def test_multiple_inputs_are_fed_by_alias(two_inputs):
    feeds = {
        "b": np.array([2.0, 10.0], np.float32),
        "a": np.array([[5.0, 1.0], [1.0, 1.0]], np.float32),
    }
    out = two_inputs.predict("serving_default", feeds)
    np.testing.assert_array_equal(out["d"], [3.0, -9.0])
    np.testing.assert_array_equal(out["s"], [3.0, 11.0])


def test_wrong_shape_is_invalid_argument(two_inputs):
    feeds = {"a": np.ones((2, 3), np.float32), "b": np.ones(2, np.float32)}
    with pytest.raises(InvalidArgument) as err:
        two_inputs.predict("serving_default", feeds)
    assert "input a has shape [2,3]" in err.value.message and "[-1,2]" in err.value.message


def test_runtime_error_is_a_serving_error_not_a_crash(two_inputs):
    feeds = {"a": np.ones((2, 2), np.float32), "b": np.ones(3, np.float32)}  # batch 2 vs 3
    with pytest.raises(ServingError) as err:
        two_inputs.predict("serving_default", feeds)
    assert err.value.code.name == "INVALID_ARGUMENT"


def test_corrupt_savedmodel_fails_to_load(tmp_path):
    version = tmp_path / "1"
    version.mkdir()
    (version / "saved_model.pb").write_bytes(b"\x00garbage")
    with pytest.raises(ServingError):
        create_backend("tensorflow").load(version)
    with pytest.raises(NotFound, match="Could not find SavedModel .pb or .pbtxt at supplied"):
        create_backend("tensorflow").load(tmp_path)


def test_unloaded_backend_refuses_politely(tmp_path):
    backend = create_backend("tensorflow")
    backend.load(write_half_plus(tmp_path, 1))
    backend.unload()
    with pytest.raises(FailedPrecondition, match="unloaded"):
        backend.predict("serving_default", {"x": np.ones(1, np.float32)})


class _OpError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "Graph execution error:\n\nDetected at node add_1 defined at (most recent call "
            "last):\n<stack traces unavailable>\nMatrix size-incompatible: In[0]: [0,3], "
            "In[1]: [8,5]\n\t [[{{node add_1}}]] [Op:__inference_signature_wrapper_181]",
            "Matrix size-incompatible: In[0]: [0,3], In[1]: [8,5]",
        ),
        (
            "Graph execution error:\n\nDetected at node 'p' defined at (most recent call "
            "last):\n  File \"m.py\", line 3, in <module>\n    f()\nNode: 'p'\n"
            "Name: <unknown>, Feature: x (data type: int64) is required but could not be "
            "found.\n\t [[{{function_node __inference_f_9}}{{node p}}]] [Op:__inference_g_12]",
            "Name: <unknown>, Feature: x (data type: int64) is required but could not be found.",
        ),
        ("cannot compute MatMul as input #1 was expected [Op:MatMul] name: ",
         "cannot compute MatMul as input #1 was expected"),
    ],
)
def test_op_message_keeps_only_the_ops_text(raw, expected):
    from serving.backends.savedmodel import op_message

    assert op_message(_OpError(raw)) == expected
