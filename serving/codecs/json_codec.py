"""TF Serving's REST predict JSON <-> numpy, both halves (server and client). Numpy-only.

Server side: ``parse_predict_request`` (row ``instances`` / columnar ``inputs``) and
``format_predict_response`` (``predictions`` / ``outputs``) with TF Serving's messages and
byte layout. Client side: ``encode_predict_request`` and ``decode_predict_response``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from serving.codecs.json_numeric import parse_numeric_body
from serving.codecs.json_parse import depth_guarded, load_json_object
from serving.codecs.json_tensors import (
    checked_tensor,
    fast_tensor,
    is_b64_object,
    shape_string,
    status_text,
    to_tensor,
)
from serving.codecs.json_text import value_to_string
from serving.codecs.json_writer import error_body, predict_body
from serving.errors import InvalidArgument, ServingError

__all__ = [
    "JsonPredictRequest",
    "parse_predict_request",
    "parse_predict_general",
    "read_signature_name",
    "format_predict_response",
    "error_body",
    "encode_predict_request",
    "decode_predict_response",
]


@dataclass
class JsonPredictRequest:
    """A parsed predict body: the tensors keyed by input alias and the format to answer in."""

    signature_name: str
    inputs: dict[str, np.ndarray]
    row_format: bool


def read_signature_name(doc: dict) -> str:
    """The optional ``signature_name`` ("" when absent); it must be a string."""
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise InvalidArgument(
            f"JSON Value: {value_to_string(doc)} not formatted correctly. "
            "'signature_name' key must be a string value."
        )
    return name


def _element_is_object(value: object) -> bool:
    return isinstance(value, dict) and not is_b64_object(value)


def _row_item(item, name, dtypes, sizes, shapes) -> np.ndarray:
    """``AddInstanceItem``: one instance's value for input ``name``, consistent with the rest."""
    if name not in dtypes:
        raise InvalidArgument(f"JSON object: does not have named input: {name}")
    tensor, size = checked_tensor(item, dtypes[name])
    if name not in sizes:
        sizes[name], shapes[name] = size, list(tensor.shape)
    elif sizes[name] != size:
        raise InvalidArgument(f"Expecting tensor size: {sizes[name]} but got: {size}")
    elif shapes[name] != list(tensor.shape):
        raise InvalidArgument(
            f"Expecting shape {shape_string(shapes[name])} "
            f"but got: {shape_string(list(tensor.shape))}"
        )
    return tensor


def _rows_checked(instances: list, dtypes: Mapping[str, int]) -> dict[str, np.ndarray]:
    """The element-by-element row path (``FillTensorMapFromInstancesList``)."""
    names = sorted(dtypes)
    if not isinstance(instances[0], dict) and len(names) > 1:
        raise InvalidArgument(
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map"
        )
    objects = _element_is_object(instances[0])
    sizes: dict[str, int] = {}
    shapes: dict[str, list[int]] = {}
    columns: dict[str, list[np.ndarray]] = {}
    for index, element in enumerate(instances):
        if objects:
            if not _element_is_object(element):
                raise InvalidArgument(
                    f"Expecting object but got list at item {index} of input list"
                )
            for key, item in element.items():
                try:
                    tensor = _row_item(item, key, dtypes, sizes, shapes)
                except ServingError as err:
                    raise InvalidArgument(
                        f"Failed to process element: {index} key: {key} of 'instances' list. "
                        f"Error: {status_text(err)}"
                    ) from None
                columns.setdefault(key, []).append(tensor)
            if set(element) != set(names):
                raise InvalidArgument(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{value_to_string(element)} keys must be equal to: {','.join(names)}"
                )
        else:
            if _element_is_object(element):
                raise InvalidArgument(
                    f"Expecting value/list but got object at item {index} of input list"
                )
            try:
                tensor = _row_item(element, names[0], dtypes, sizes, shapes)
            except ServingError as err:
                raise InvalidArgument(
                    f"Failed to process element: {index} of 'instances' list. "
                    f"Error: {status_text(err)}"
                ) from None
            columns.setdefault(names[0], []).append(tensor)
    return {name: np.stack(parts) for name, parts in columns.items()}


def _rows_fast(instances: list, dtypes: Mapping[str, int]) -> dict | None:
    """Vectorised row path for regular numeric data; None when the checked path is needed."""
    names = sorted(dtypes)
    if _element_is_object(instances[0]):
        keys = set(names)
        if not all(_element_is_object(e) and e.keys() == keys for e in instances):
            return None
        columns = {name: [e[name] for e in instances] for name in names}
    elif len(names) == 1:
        columns = {names[0]: instances}
    else:
        return None
    out = {}
    for name, column in columns.items():
        tensor = fast_tensor(column, dtypes[name])
        if tensor is None:
            return None
        out[name] = tensor
    return out


def _columnar(value: object, dtypes: Mapping[str, int]) -> dict[str, np.ndarray]:
    """``FillTensorMapFromInputsMap``: one tensor per signature input; extra keys ignored."""
    names = sorted(dtypes)
    if not isinstance(value, dict) or is_b64_object(value):
        if len(names) > 1:
            raise InvalidArgument(
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map"
            )
        return {names[0]: to_tensor(value, dtypes[names[0]])}
    out = {}
    for name in names:
        if name not in value:
            raise InvalidArgument(f"Missing named input: {name} in 'inputs' object.")
        out[name] = to_tensor(value[name], dtypes[name])
    return out


def parse_predict_request(
    body: bytes, input_dtypes: Callable[[str], Mapping[str, int]]
) -> JsonPredictRequest:
    """Parse a ``:predict`` body. ``input_dtypes(signature_name)`` returns the signature's
    ``{alias: DataType enum}`` (raising TF Serving's unknown-signature error).

    A one-tensor all-number body (a client-resized image) takes ``parse_numeric_body``'s
    byte-level path; everything else, including every error, ``parse_predict_general``."""
    fast = parse_numeric_body(body, input_dtypes)
    if fast is not None:
        signature_name, key, tensor, alias = fast
        return JsonPredictRequest(signature_name, {alias: tensor}, key == "instances")
    return parse_predict_general(body, input_dtypes)


@depth_guarded
def parse_predict_general(
    body: bytes, input_dtypes: Callable[[str], Mapping[str, int]]
) -> JsonPredictRequest:
    """``parse_predict_request`` for any body, with TF Serving's rules and messages."""
    doc = load_json_object(body)
    signature_name = read_signature_name(doc)
    dtypes = input_dtypes(signature_name)
    if not dtypes:
        raise InvalidArgument(
            f"Failed to get input map for signature: {signature_name or 'DEFAULT'}"
        )
    if "instances" in doc:
        if "inputs" in doc:
            raise InvalidArgument(
                f"JSON Value: {value_to_string(doc)} Not formatted correctly expecting only "
                "one of 'inputs' or 'instances' keys to exist "
            )
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise InvalidArgument(
                f"JSON Value: {value_to_string(doc)} Expecting 'instances' to be an list/array"
            )
        if not instances:
            raise InvalidArgument(
                f"JSON Value: {value_to_string(doc)} No values in 'instances' array"
            )
        tensors = _rows_fast(instances, dtypes) or _rows_checked(instances, dtypes)
        return JsonPredictRequest(signature_name, tensors, True)
    if "inputs" in doc:
        return JsonPredictRequest(signature_name, _columnar(doc["inputs"], dtypes), False)
    raise InvalidArgument("Missing 'inputs' or 'instances' key")


def format_predict_response(outputs: Mapping[str, np.ndarray], row_format: bool) -> bytes:
    """``{"predictions": ...}`` (row) or ``{"outputs": ...}`` (columnar) as TF Serving writes it."""
    return predict_body(outputs, row_format)


def encode_predict_request(
    inputs: np.ndarray | Mapping[str, np.ndarray],
    *,
    columnar: bool = False,
    signature_name: str | None = None,
) -> bytes:
    """Client side: a predict body from one unnamed array or named arrays.

    Row format (default) sends ``instances`` (dim 0 is the batch); ``columnar`` sends
    ``inputs``. Byte strings (``bytes`` or object arrays) are sent as ``{"b64": ...}``.
    """
    from serving.codecs.json_client import encode_request

    return encode_request(inputs, columnar=columnar, signature_name=signature_name)


def decode_predict_response(
    body: bytes, float_dtype: type = np.float32
) -> np.ndarray | dict[str, np.ndarray]:
    """Client side: the arrays of a predict response (one array, or a dict for named outputs).

    ``{"b64": ...}`` values become ``bytes``; floats become ``float_dtype``. An ``error`` body
    raises ``ServingError`` with the server's message.
    """
    from serving.codecs.json_client import decode_response

    return decode_response(body, float_dtype)

