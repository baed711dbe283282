"""Hypothesis strategies for malformed TF Serving gRPC requests.

Requests are built as protos from random model specs (names, versions, labels, signature
names) and random ``TensorProto`` s whose dtype, shape and content disagree (typed values of
the wrong field, ``tensor_content`` of the wrong length, huge or negative dims, unknown
rank, string tensors for numeric inputs, unknown dtype enums). ``raw_calls`` pairs a method
with garbage bytes, sent through a generic unary call without a serializer.
"""

from __future__ import annotations

from hypothesis import strategies as st

PREDICTION = "/tensorflow.serving.PredictionService/"
MODEL = "/tensorflow.serving.ModelService/"
RAW_METHODS = [
    PREDICTION + "Predict", PREDICTION + "Classify", PREDICTION + "Regress",
    PREDICTION + "MultiInference", PREDICTION + "GetModelMetadata", MODEL + "GetModelStatus",
]

names = st.one_of(
    st.sampled_from(["hp", "latest_only", "", "nope", "../../etc", "hp/../hp", "/", "..", "\x00"]),
    st.text(max_size=12),
)
versions = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.sampled_from([1, 2, 3]))
labels = st.one_of(st.sampled_from(["", "stable", "canary", "../x"]), st.text(max_size=8))
signatures = st.one_of(
    st.sampled_from(["", "serving_default", "classify_x_to_y", "regress_x_to_y", "nope"]),
    st.text(max_size=8),
)
dims = st.one_of(
    st.integers(0, 4),
    st.integers(-3, 2**63 - 1),
    st.sampled_from([2**31, 2**32, 2**62, 2**63 - 1, -1]),
)
_FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32)
_INTS = st.integers(-(2**31), 2**31 - 1)
contents = st.one_of(
    st.tuples(st.just("float_val"), st.lists(_FLOATS, max_size=8)),
    st.tuples(st.just("double_val"), st.lists(st.floats(), max_size=8)),
    st.tuples(st.just("int_val"), st.lists(_INTS, max_size=8)),
    st.tuples(st.just("int64_val"), st.lists(st.integers(-(2**63), 2**63 - 1), max_size=8)),
    st.tuples(st.just("uint64_val"), st.lists(st.integers(0, 2**64 - 1), max_size=4)),
    st.tuples(st.just("half_val"), st.lists(st.integers(0, 2**31 - 1), max_size=8)),
    st.tuples(st.just("dcomplex_val"), st.lists(st.floats(), max_size=5)),
    st.tuples(st.just("scomplex_val"), st.lists(_FLOATS, max_size=5)),
    st.tuples(st.just("bool_val"), st.lists(st.booleans(), max_size=8)),
    st.tuples(st.just("string_val"), st.lists(st.binary(max_size=8), max_size=8)),
    st.tuples(st.just("tensor_content"), st.binary(max_size=40)),
)
dtypes = st.one_of(
    st.sampled_from([1, 1, 1, 2, 7, 9, 18, 19]),  # float, double, string, int64, complex, half
    st.integers(0, 30),
    st.sampled_from([101, 2**31 - 1, -5]),
)


@st.composite
def tensor_protos(draw):
    """A TensorProto whose dtype, shape and values need not agree."""
    from tensorflow.core.framework import tensor_pb2

    proto = tensor_pb2.TensorProto()
    proto.dtype = draw(dtypes)
    if draw(st.integers(0, 9)) == 0:
        proto.tensor_shape.unknown_rank = True
    for size in draw(st.lists(dims, max_size=4)):
        proto.tensor_shape.dim.add().size = size
    for field, values in draw(st.lists(contents, max_size=2)):
        if field == "tensor_content":
            proto.tensor_content = values
        else:
            getattr(proto, field).extend(values)
    return proto


def _fill_spec(draw, spec) -> None:
    if draw(st.booleans()):  # half the requests get past the model lookup to the inputs
        spec.name = draw(st.sampled_from(["hp", "latest_only"]))
        version = draw(st.sampled_from([None, 1, 2]))
        if version is not None:
            spec.version.value = version
        spec.signature_name = draw(signatures)
        return
    spec.name = draw(names)
    version = draw(versions)
    label = draw(labels)
    if version is not None:
        spec.version.value = version
    if label and draw(st.booleans()):
        spec.version_label = label
    spec.signature_name = draw(signatures)


@st.composite
def predict_requests(draw):
    """PredictRequest with random spec, inputs and output filter."""
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    if draw(st.integers(0, 19)):
        _fill_spec(draw, request.model_spec)
    aliases = st.one_of(st.sampled_from(["x", "inputs", ""]), st.text(max_size=6))
    for alias in draw(st.lists(aliases, max_size=3, unique=True)):
        request.inputs[alias].CopyFrom(draw(tensor_protos()))
    request.output_filter.extend(draw(st.lists(st.sampled_from(["y", "z", ""]), max_size=2)))
    return request


@st.composite
def examples(draw):
    """A tf.Example with random float/int64/bytes features."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    keys = st.sampled_from(["x", "y", "image/encoded", ""])
    for key in draw(st.lists(keys, max_size=3, unique=True)):
        feature = example.features.feature[key]
        kind = draw(st.integers(0, 3))
        if kind == 0:
            feature.float_list.value.extend(draw(st.lists(_FLOATS, max_size=3)))
        elif kind == 1:
            feature.int64_list.value.extend(draw(st.lists(_INTS, max_size=3)))
        elif kind == 2:
            feature.bytes_list.value.extend(draw(st.lists(st.binary(max_size=6), max_size=3)))
    return example


@st.composite
def classify_requests(draw):
    """ClassificationRequest with random spec and (maybe) examples with context."""
    from tensorflow_serving.apis import classification_pb2

    request = classification_pb2.ClassificationRequest()
    if draw(st.integers(0, 19)):
        _fill_spec(draw, request.model_spec)
    kind = draw(st.integers(0, 2))
    if kind == 1:
        request.input.example_list.examples.extend(draw(st.lists(examples(), max_size=3)))
    elif kind == 2:
        wrapped = request.input.example_list_with_context
        wrapped.examples.extend(draw(st.lists(examples(), max_size=3)))
        wrapped.context.CopyFrom(draw(examples()))
    return request


@st.composite
def metadata_requests(draw):
    """GetModelMetadataRequest with random spec and metadata fields."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    request = get_model_metadata_pb2.GetModelMetadataRequest()
    if draw(st.integers(0, 19)):
        _fill_spec(draw, request.model_spec)
    fields = st.one_of(st.sampled_from(["signature_def", ""]), st.text(max_size=6))
    request.metadata_field.extend(draw(st.lists(fields, max_size=2)))
    return request


@st.composite
def status_requests(draw):
    """GetModelStatusRequest with random spec."""
    from tensorflow_serving.apis import get_model_status_pb2

    request = get_model_status_pb2.GetModelStatusRequest()
    if draw(st.integers(0, 19)):
        _fill_spec(draw, request.model_spec)
    return request


raw_calls = st.tuples(st.sampled_from(RAW_METHODS), st.binary(max_size=64))


def known_bad_tensors() -> list:
    """TensorProtos fuzzing found answered UNKNOWN (the codec raised ValueError/MemoryError) or
    that make the codec allocate GiBs from a few bytes: a dim too big to allocate, 1 GiB and
    128 MiB fills from one value, an int64-overflowing element count, an odd complex count."""
    from tensorflow.core.framework import tensor_pb2

    cases = [(1, [2**62], "float_val", []), (1, [2**40], "float_val", [1.0]),
             (1, [2**28], "float_val", [1.0]), (7, [2**24], "string_val", [b"a"]),
             (1, [2**63 - 1, 2], "float_val", []), (1, [2**32, 2**32], "float_val", [1.0]),
             (18, [3], "dcomplex_val", [1.0, 2.0, 3.0])]
    protos = []
    for dtype, shape, field, values in cases:
        proto = tensor_pb2.TensorProto(dtype=dtype)
        for size in shape:
            proto.tensor_shape.dim.add().size = size
        getattr(proto, field).extend(values)
        protos.append(proto)
    return protos
