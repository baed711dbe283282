"""``MonitoringConfig``, ``BatchingParameters`` and ``SSLConfig`` message classes.

The ``tensorflow-serving-api`` wheel does not ship ``monitoring_config_pb2``,
``session_bundle_config_pb2`` or ``ssl_config_pb2``, so the messages are declared here with
the package, names and field numbers of TF Serving's ``config/monitoring_config.proto``,
``servables/tensorflow/session_bundle_config.proto`` and ``config/ssl_config.proto`` (in a
private descriptor pool), which lets ``text_format`` read TF Serving's config files unchanged.
"""

from __future__ import annotations

from functools import cache

__all__ = ["monitoring_config_class", "batching_parameters_class", "ssl_config_class"]

_INT64 = ".google.protobuf.Int64Value"
_BATCHING_FIELDS = [  # (name, number, type name or scalar kind, repeated)
    ("max_batch_size", 1, _INT64, False),
    ("batch_timeout_micros", 2, _INT64, False),
    ("max_enqueued_batches", 3, _INT64, False),
    ("num_batch_threads", 4, _INT64, False),
    ("thread_pool_name", 5, ".google.protobuf.StringValue", False),
    ("allowed_batch_sizes", 6, "int64", True),
    ("pad_variable_length_inputs", 7, "bool", False),
    ("enable_large_batch_splitting", 8, ".google.protobuf.BoolValue", False),
    ("max_execution_batch_size", 9, _INT64, False),
]
_SSL_FIELDS = [  # config/ssl_config.proto: the three strings hold PEM text, not file paths
    ("server_key", 1, "string"),
    ("server_cert", 2, "string"),
    ("custom_ca", 3, "string"),
    ("client_verify", 4, "bool"),
]


@cache
def _pool():
    from google.protobuf import descriptor_pb2, descriptor_pool, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)

    F = descriptor_pb2.FieldDescriptorProto  # noqa: N806 - protobuf's naming
    scalar = {"int64": F.TYPE_INT64, "bool": F.TYPE_BOOL, "string": F.TYPE_STRING}

    def add_field(message, name, number, kind, repeated=False):
        field = message.field.add(name=name, number=number, json_name=name)
        field.label = F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL
        if kind in scalar:
            field.type = scalar[kind]
        else:
            field.type, field.type_name = F.TYPE_MESSAGE, kind

    monitoring = descriptor_pb2.FileDescriptorProto(
        name="serving_local/monitoring_config.proto", package="tensorflow.serving", syntax="proto3"
    )
    prometheus = monitoring.message_type.add(name="PrometheusConfig")
    add_field(prometheus, "enable", 1, "bool")
    add_field(prometheus, "path", 2, "string")
    config = monitoring.message_type.add(name="MonitoringConfig")
    add_field(config, "prometheus_config", 1, ".tensorflow.serving.PrometheusConfig")
    pool.Add(monitoring)

    session = descriptor_pb2.FileDescriptorProto(
        name="serving_local/session_bundle_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    batching = session.message_type.add(name="BatchingParameters")
    for name, number, kind, repeated in _BATCHING_FIELDS:
        add_field(batching, name, number, kind, repeated)
    pool.Add(session)

    ssl = descriptor_pb2.FileDescriptorProto(
        name="serving_local/ssl_config.proto", package="tensorflow.serving", syntax="proto3"
    )
    ssl_config = ssl.message_type.add(name="SSLConfig")
    for name, number, kind in _SSL_FIELDS:
        add_field(ssl_config, name, number, kind)
    pool.Add(ssl)
    return pool


def _message_class(full_name: str):
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(_pool().FindMessageTypeByName(full_name))


def monitoring_config_class():
    """``tensorflow.serving.MonitoringConfig`` (``prometheus_config { enable path }``)."""
    return _message_class("tensorflow.serving.MonitoringConfig")


def batching_parameters_class():
    """``tensorflow.serving.BatchingParameters`` (fields 1-9 of TF Serving's message)."""
    return _message_class("tensorflow.serving.BatchingParameters")


def ssl_config_class():
    """``tensorflow.serving.SSLConfig`` (``server_key server_cert custom_ca client_verify``)."""
    return _message_class("tensorflow.serving.SSLConfig")
