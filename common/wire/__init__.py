"""TF Serving's wire and config schema, declared once (``proto/``) and loaded into a private pool.

``proto/`` holds the ``.proto`` files (TF Serving's ``PredictionService``/``ModelService``
messages, ``TensorProto`` and friends, ``tf.Example``, the config text protos);
``schema.binpb`` is the ``FileDescriptorSet`` the pinned ``grpcio-tools`` compiles from them
(``python -m common.wire.build``). The message classes are built from a
``DescriptorPool`` of their own, not protobuf's default pool, so they keep TF Serving's full
names (``tensorflow.serving.PredictRequest``: identical bytes, type URLs and text format) and
still coexist with ``tensorflow`` / ``tensorflow_serving`` imported in the same process, which
register the same names in the default pool.

Use: ``from common import wire; wire.PredictRequest()`` (short names, unique across the
schema), ``wire.message_class("tensorflow.serving.PredictRequest")``, ``wire.services()``.
Needs only ``protobuf`` (no TensorFlow).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["message_class", "services", "pool", "SCHEMA_FILE", "convert"]

SCHEMA_FILE = Path(__file__).with_name("schema.binpb")
_PACKAGES = ("tensorflow.serving.", "tensorflow.error.", "tensorflow.")


@cache
def pool():
    """The private ``DescriptorPool`` holding every file of ``schema.binpb``."""
    from google.protobuf import descriptor_pb2, descriptor_pool

    files = descriptor_pb2.FileDescriptorSet.FromString(SCHEMA_FILE.read_bytes())
    result = descriptor_pool.DescriptorPool()
    for file_proto in files.file:  # protoc writes dependencies before their dependents
        result.Add(file_proto)
    return result


@cache
def message_class(full_name: str) -> Any:
    """The message class for ``full_name`` (e.g. ``tensorflow.serving.PredictRequest``)."""
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(pool().FindMessageTypeByName(full_name))


@cache
def services() -> dict[str, dict[str, tuple[Any, Any]]]:
    """``{service full name: {method: (request class, response class)}}`` for the two TF
    Serving services (``tensorflow.serving.PredictionService``, ``...ModelService``)."""
    out = {}
    for name in ("tensorflow.serving.PredictionService", "tensorflow.serving.ModelService"):
        service = pool().FindServiceByName(name)
        out[name] = {m.name: (message_class(m.input_type.full_name),
                              message_class(m.output_type.full_name)) for m in service.methods}
    return out


def convert(message: Any, target: type) -> Any:
    """``message`` (any class with the same schema, e.g. TensorFlow's own) as a ``target``
    instance, through its serialized bytes."""
    return target.FromString(message.SerializeToString())


def __getattr__(short_name: str) -> Any:
    """``wire.PredictRequest``: the class for a short name, looked up in our packages."""
    if short_name.startswith("_"):
        raise AttributeError(short_name)
    for package in _PACKAGES:
        try:
            return message_class(package + short_name)
        except KeyError:
            continue
    raise AttributeError(f"common.wire has no message {short_name!r}")
