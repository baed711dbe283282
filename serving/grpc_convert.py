"""Small proto <-> Python conversions shared by the gRPC services."""

from __future__ import annotations

from serving.codecs.tensor_proto import TensorProtoError, TensorTooLarge, to_numpy
from serving.errors import GRPC_MESSAGE_LIMIT, InvalidArgument

__all__ = [
    "truncate", "model_spec", "read_examples", "fill_classes", "fill_regressions",
    "read_inputs",
]


def truncate(message: str) -> str:
    """TF Serving's gRPC message limit: 1024 characters, then ``...TRUNCATED``."""
    if len(message) > GRPC_MESSAGE_LIMIT:
        return message[:GRPC_MESSAGE_LIMIT] + "...TRUNCATED"
    return message


def model_spec(request):
    """(name, version, label, signature_name) of a request's ``model_spec``."""
    if not request.HasField("model_spec"):
        raise InvalidArgument("Missing ModelSpec")
    spec = request.model_spec
    if not spec.name:
        raise InvalidArgument("ModelSpec has no name specified.")
    version = spec.version.value if spec.HasField("version") else None
    label = spec.version_label or None
    return spec.name, version, label, spec.signature_name


def read_examples(model_input) -> tuple[list[bytes], bytes | None]:
    """Serialised Examples and context of a ``tensorflow.serving.Input`` (empty if unset)."""
    kind = model_input.WhichOneof("kind")
    if kind == "example_list":
        return [e.SerializeToString() for e in model_input.example_list.examples], None
    if kind == "example_list_with_context":
        wrapped = model_input.example_list_with_context
        examples = [e.SerializeToString() for e in wrapped.examples]
        return examples, wrapped.context.SerializeToString()
    return [], None


def fill_classes(result, rows) -> None:
    """Fill a ``ClassificationResult`` from per-example (label, score) pairs."""
    for row in rows:
        classifications = result.classifications.add()
        for label, score in row:
            classifications.classes.add(label=label, score=score)


def fill_regressions(result, values) -> None:
    """Fill a ``RegressionResult`` from one float per example."""
    for value in values:
        result.regressions.add(value=value)


def read_inputs(inputs, limit: int) -> dict:
    """``PredictRequest.inputs`` as numpy arrays, none larger than ``limit`` bytes (read-only
    views of ``tensor_content`` where possible: backends never write into their inputs); a
    tensor that cannot be built (too large, inconsistent) is the client's mistake:
    INVALID_ARGUMENT, never UNKNOWN."""
    arrays = {}
    for alias, proto in inputs.items():
        try:
            arrays[alias] = to_numpy(proto, max_bytes=limit, copy=False)
        except TensorTooLarge as exc:
            raise InvalidArgument(
                f"tensor {alias}: {exc} (the largest accepted message)") from None
        except (TensorProtoError, ValueError, OverflowError, MemoryError):
            raise InvalidArgument(f"tensor parsing error: {alias}") from None
    return arrays
