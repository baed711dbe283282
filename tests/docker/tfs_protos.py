"""Parsers for the TF Serving text-proto config files shipped in ``docker/``.

``ModelServerConfig`` comes from the ``tensorflow-serving-api`` wheel. That wheel does not
ship ``monitoring_config_pb2`` nor ``servables/tensorflow/session_bundle_config_pb2``, so
``MonitoringConfig``, ``PrometheusConfig`` and ``BatchingParameters`` are declared here with
the field names, numbers and types of TF Serving's ``config/monitoring_config.proto`` and
``servables/tensorflow/session_bundle_config.proto`` (package ``tensorflow.serving``; the
``Int64Value``/``StringValue`` wrappers are the real ``google/protobuf/wrappers.proto``).
Text-format parsing is strict: an unknown or misspelt field name is a parse error, as it is
for ``tensorflow_model_server``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)

__all__ = ["parse_model_server_config", "parse_batching_parameters", "parse_monitoring_config"]

_F = descriptor_pb2.FieldDescriptorProto

# (name, number, type, label, type_name) per upstream .proto.
_BATCHING_FIELDS = [
    ("max_batch_size", 1, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, ".google.protobuf.Int64Value"),
    ("batch_timeout_micros", 2, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, ".google.protobuf.Int64Value"),
    ("max_enqueued_batches", 3, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, ".google.protobuf.Int64Value"),
    ("num_batch_threads", 4, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, ".google.protobuf.Int64Value"),
    ("thread_pool_name", 5, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL, ".google.protobuf.StringValue"),
    ("allowed_batch_sizes", 6, _F.TYPE_INT64, _F.LABEL_REPEATED, ""),
    ("pad_variable_length_inputs", 7, _F.TYPE_BOOL, _F.LABEL_OPTIONAL, ""),
]
_PROMETHEUS_FIELDS = [
    ("enable", 1, _F.TYPE_BOOL, _F.LABEL_OPTIONAL, ""),
    ("path", 2, _F.TYPE_STRING, _F.LABEL_OPTIONAL, ""),
]
_MONITORING_FIELDS = [
    ("prometheus_config", 1, _F.TYPE_MESSAGE, _F.LABEL_OPTIONAL,
     ".tensorflow.serving.PrometheusConfig"),
]


def _add_message(file_proto: descriptor_pb2.FileDescriptorProto, name: str,
                 fields: list[tuple[str, int, int, int, str]]) -> None:
    message = file_proto.message_type.add(name=name)
    for field_name, number, ftype, label, type_name in fields:
        field = message.field.add(name=field_name, number=number, type=ftype, label=label)
        if type_name:
            field.type_name = type_name


@cache
def _classes() -> dict[str, Any]:
    """Build a private descriptor pool holding the three upstream messages."""
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="tests/docker/tfserving_config_subset.proto", package="tensorflow.serving",
        syntax="proto3", dependency=["google/protobuf/wrappers.proto"])
    _add_message(file_proto, "BatchingParameters", _BATCHING_FIELDS)
    _add_message(file_proto, "PrometheusConfig", _PROMETHEUS_FIELDS)
    _add_message(file_proto, "MonitoringConfig", _MONITORING_FIELDS)
    pool.Add(file_proto)
    return {name: message_factory.GetMessageClass(
                pool.FindMessageTypeByName(f"tensorflow.serving.{name}"))
            for name in ("BatchingParameters", "MonitoringConfig")}


def parse_model_server_config(text: str) -> Any:
    """Parse a ``--model_config_file`` text proto into the real ``ModelServerConfig``."""
    from tensorflow_serving.config import model_server_config_pb2

    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


def parse_batching_parameters(text: str) -> Any:
    """Parse a ``--batching_parameters_file`` text proto (``BatchingParameters``)."""
    return text_format.Parse(text, _classes()["BatchingParameters"]())


def parse_monitoring_config(text: str) -> Any:
    """Parse a ``--monitoring_config_file`` text proto (``MonitoringConfig``)."""
    return text_format.Parse(text, _classes()["MonitoringConfig"]())
