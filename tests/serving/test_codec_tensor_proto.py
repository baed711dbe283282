"""TensorProto codec and tf.Example encoder against TensorFlow's own protos and parsers."""

from __future__ import annotations

import numpy as np
import pytest

from serving.codecs.json_examples import parse_examples_request
from serving.codecs.tensor_proto import TensorProtoError, from_numpy, to_numpy
from serving.codecs.tf_example import Feature, encode_example
from serving.errors import ServingError

tf = pytest.importorskip("tensorflow")
from tensorflow.core.framework import tensor_pb2  # noqa: E402

ARRAYS = [
    np.array([1.5, -2.0], np.float32),
    np.arange(6, dtype=np.int64).reshape(2, 3),
    np.array([[1, -2]], np.int8),
    np.array([200, 3], np.uint8),
    np.array([True, False]),
    np.array([0.5, 2.0], np.float16),
    np.array([1.0, 2.0], np.float64),
    np.array([2**40, 7], np.uint64),
    np.array([b"a", b"\xff\x00"], dtype=object),
    np.array(3.25, np.float32),
]


@pytest.mark.parametrize("arr", ARRAYS, ids=lambda a: f"{a.dtype}{list(a.shape)}")
@pytest.mark.parametrize("content", [False, True], ids=["typed_val", "tensor_content"])
def test_round_trip_agrees_with_tensorflow(arr, content):
    proto = from_numpy(arr, tensor_pb2.TensorProto, tensor_content=content)
    ours = to_numpy(proto)
    theirs = tf.make_ndarray(proto)
    assert ours.shape == arr.shape and ours.dtype == arr.dtype
    np.testing.assert_array_equal(ours, arr)
    np.testing.assert_array_equal(theirs, arr)


def test_no_copy_view_of_tensor_content():
    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    proto = from_numpy(arr, tensor_pb2.TensorProto, tensor_content=True)
    view = to_numpy(proto, copy=False)
    np.testing.assert_array_equal(view, arr)
    assert view.dtype == arr.dtype and not view.flags.writeable
    copied = to_numpy(proto)
    assert copied.flags.writeable
    typed = to_numpy(from_numpy(arr, tensor_pb2.TensorProto), copy=False)  # built anew
    np.testing.assert_array_equal(typed, arr)


def test_tensorflow_made_protos_decode():
    arr = np.random.default_rng(1).random((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(to_numpy(tf.make_tensor_proto(arr)), arr)


def test_fewer_values_repeat_the_last_one_as_tensorflow_does():
    proto = tensor_pb2.TensorProto(dtype=1, float_val=[2.0])
    proto.tensor_shape.dim.add().size = 3
    np.testing.assert_array_equal(to_numpy(proto), [2.0, 2.0, 2.0])
    proto = tensor_pb2.TensorProto(dtype=3, int_val=[1, 2])
    proto.tensor_shape.dim.add().size = 4
    np.testing.assert_array_equal(to_numpy(proto), tf.make_ndarray(proto))
    empty = tensor_pb2.TensorProto(dtype=1)
    empty.tensor_shape.dim.add().size = 2
    np.testing.assert_array_equal(to_numpy(empty), [0.0, 0.0])


def test_invalid_protos_are_rejected():
    too_many = tensor_pb2.TensorProto(dtype=1, float_val=[1.0, 2.0])
    too_many.tensor_shape.dim.add().size = 1
    with pytest.raises(TensorProtoError):
        to_numpy(too_many)
    short = tensor_pb2.TensorProto(dtype=1, tensor_content=b"\x00" * 6)
    short.tensor_shape.dim.add().size = 2
    with pytest.raises(TensorProtoError):
        to_numpy(short)


@pytest.mark.parametrize("dims", [[2**32, 2**32], [2**63 - 1, 2], [2**62], [2**41]])
def test_huge_shapes_are_refused_before_allocating(dims):
    proto = tensor_pb2.TensorProto(dtype=1, float_val=[1.0])
    for size in dims:
        proto.tensor_shape.dim.add().size = size
    with pytest.raises(TensorProtoError, match="elements; at most"):
        to_numpy(proto)


def test_odd_complex_value_count_is_a_tensor_proto_error():
    proto = tensor_pb2.TensorProto(dtype=8, scomplex_val=[1.0, 2.0, 3.0])  # DT_COMPLEX64
    proto.tensor_shape.dim.add().size = 1
    with pytest.raises(TensorProtoError, match="even count"):
        to_numpy(proto)


def test_examples_encode_like_protobuf():
    from tensorflow.core.example import example_pb2

    raw = encode_example(
        {
            "f": Feature("float", [1.5, -2.0]),
            "i": Feature("int64", [-1, 2**40]),
            "b": Feature("bytes", [b"x", b""]),
            "e": Feature(),
        }
    )
    example = example_pb2.Example.FromString(raw)
    features = example.features.feature
    assert list(features["f"].float_list.value) == [1.5, -2.0]
    assert list(features["i"].int64_list.value) == [-1, 2**40]
    assert list(features["b"].bytes_list.value) == [b"x", b""]
    assert features["e"].WhichOneof("kind") is None


def test_json_examples_follow_tf_serving_kinds_and_context():
    from tensorflow.core.example import example_pb2

    parsed = parse_examples_request(
        b'{"context": {"c": "ctx"}, "examples": [{"x": 2, "y": 2.0, "z": [true, false], '
        b'"w": {"b64": "aGk="}}]}'
    )
    merged = example_pb2.Example.FromString(parsed.context + parsed.examples[0])
    features = merged.features.feature
    assert list(features["x"].int64_list.value) == [2]
    assert list(features["y"].float_list.value) == [2.0]
    assert list(features["z"].int64_list.value) == [1, 0]
    assert list(features["w"].bytes_list.value) == [b"hi"]
    assert list(features["c"].bytes_list.value) == [b"ctx"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"examples": [{"x": [1, 1.5]}]}',
         "Unexpected element type in feature: x expecting type: int64"),
        (b'{"examples": [{"x": null}]}', "Feature: x has element with unexpected JSON type: Null"),
        (b'{"examples": [{"x": [[1]]}]}',
         "Feature: x has element with unexpected JSON type: Array"),
        (b'{"examples": [{"x": 18446744073709551615}]}',
         "Feature: x has uint64 element. Only int64 is supported."),
        (b'{"examples": [1]}', "Example must be JSON object but got JSON Number"),
        (b'{"examples": []}', 'JSON Value: {\n    "examples": []\n} \'examples\' value is an empty '
         "array"),
        (b'{"x": 1}', "JSON Value: {\n    \"x\": 1\n} When method is classify, key 'examples' is "
         "expected and was not found"),
    ],
)
def test_json_example_errors(body, message):
    with pytest.raises(ServingError) as info:
        parse_examples_request(body)
    assert info.value.message == message
