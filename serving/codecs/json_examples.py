"""Classify/regress REST bodies -> serialised tf.Examples (``FillClassifyRegressRequestFromJson``).

``{"signature_name"?, "context"?: {feature: value|list}, "examples": [{feature: ...}, ...]}``.
A number with a fraction or exponent goes to float_list, a whole number to int64_list,
true/false to int64 1/0, strings and ``{"b64": ...}`` to bytes_list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from serving.codecs.json_codec import read_signature_name
from serving.codecs.json_parse import depth_guarded, load_json_object
from serving.codecs.json_tensors import decode_b64, is_b64_object
from serving.codecs.json_text import json_type, value_to_string
from serving.codecs.tf_example import Feature, encode_example
from serving.errors import InvalidArgument

__all__ = ["ExamplesRequest", "parse_examples_request"]

_FLOAT_MAX = float(np.finfo(np.float32).max)


@dataclass
class ExamplesRequest:
    """A parsed classify/regress body; ``context`` is None for a plain ExampleList."""

    signature_name: str
    context: bytes | None
    examples: list[bytes]


def _kind_error(name: str, feature: Feature) -> InvalidArgument:
    return InvalidArgument(
        f"Unexpected element type in feature: {name} expecting type: {feature.kind or 'UNKNOWN'}"
    )


def _add(value: object, name: str, feature: Feature) -> None:
    """``AddValueToFeature``: append one JSON scalar to ``feature`` keeping a single kind."""

    def want(kind: str) -> None:
        if feature.kind not in (None, kind):
            raise _kind_error(name, feature)
        feature.kind = kind

    if value is None or isinstance(value, list):
        raise InvalidArgument(
            f"Feature: {name} has element with unexpected JSON type: {json_type(value)}"
        )
    if value is True or value is False:
        want("int64")
        feature.values.append(1 if value else 0)
    elif isinstance(value, dict):
        if not is_b64_object(value):
            raise InvalidArgument(
                f"Feature: {name} has element with unexpected JSON type: {json_type(value)}"
            )
        want("bytes")
        feature.values.append(decode_b64(value))
    elif isinstance(value, str):
        want("bytes")
        feature.values.append(value.encode("utf-8", "surrogateescape"))
    elif isinstance(value, float) or value >= 2**64 or value < -(2**63):
        want("float")
        number = float(value)
        if math.isfinite(number) and abs(number) > _FLOAT_MAX:
            raise InvalidArgument(
                f"Cannot convert JSON value: {value_to_string(number)} to float without "
                "loss of precision."
            )
        feature.values.append(number)
    else:
        want("int64")
        if value >= 2**63:
            raise InvalidArgument(
                f"Feature: {name} has uint64 element. Only int64 is supported."
            )
        feature.values.append(value)


def _example(value: object) -> bytes:
    """``MakeExampleFromJsonObject``: one JSON object -> serialised Example."""
    if not isinstance(value, dict):
        raise InvalidArgument(f"Example must be JSON object but got JSON {json_type(value)}")
    features: dict[str, Feature] = {}
    for name, content in value.items():
        feature = Feature()
        for item in content if isinstance(content, list) else [content]:
            _add(item, name, feature)
        features[name] = feature
    return encode_example(features)


@depth_guarded
def parse_examples_request(body: bytes) -> ExamplesRequest:
    """Parse a ``:classify`` or ``:regress`` body with TF Serving's checks and messages."""
    doc = load_json_object(body)
    signature_name = read_signature_name(doc)
    context = _example(doc["context"]) if "context" in doc else None
    if "examples" not in doc:
        raise InvalidArgument(
            f"JSON Value: {value_to_string(doc)} When method is classify, key 'examples' "
            "is expected and was not found"
        )
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise InvalidArgument(
            f"JSON Value: {value_to_string(doc)} Expecting 'examples' value to be an list/array"
        )
    if not examples:
        raise InvalidArgument(
            f"JSON Value: {value_to_string(doc)} 'examples' value is an empty array"
        )
    return ExamplesRequest(signature_name, context, [_example(e) for e in examples])
