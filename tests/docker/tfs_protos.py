"""Parsers for the TF Serving text-proto config files shipped in ``docker/``.

The messages come from the project's declared schema (``common.wire``, compiled from
``common/wire/proto/``): ``ModelServerConfig``, ``BatchingParameters`` and
``MonitoringConfig`` with TF Serving's package, field names, numbers and types. Text-format
parsing is strict: an unknown or misspelt field name is a parse error, as it is for
``tensorflow_model_server``.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import text_format

from common import wire

__all__ = ["parse_model_server_config", "parse_batching_parameters", "parse_monitoring_config"]


def parse_model_server_config(text: str) -> Any:
    """Parse a ``--model_config_file`` text proto (``ModelServerConfig``)."""
    return text_format.Parse(text, wire.ModelServerConfig())


def parse_batching_parameters(text: str) -> Any:
    """Parse a ``--batching_parameters_file`` text proto (``BatchingParameters``)."""
    return text_format.Parse(text, wire.BatchingParameters())


def parse_monitoring_config(text: str) -> Any:
    """Parse a ``--monitoring_config_file`` text proto (``MonitoringConfig``)."""
    return text_format.Parse(text, wire.MonitoringConfig())
