"""Turn ``ServerOptions`` into the pieces the app needs: model configs, batching options,
the Prometheus path, gRPC channel args, and the polled model config file."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from serving.batching import BatchingOptions
from serving.server_options import FlagError, ServerOptions
from serving.task_errors import spawn

__all__ = [
    "load_model_configs",
    "load_batching_options",
    "load_prometheus_path",
    "channel_arguments",
    "ConfigFileWatcher",
    "DEFAULT_PROMETHEUS_PATH",
]

log = logging.getLogger(__name__)
DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"


def load_model_configs(options: ServerOptions) -> list:
    """The model list: ``--model_config_file`` wins over ``--model_name``/``--model_base_path``."""
    from serving.model_config import (
        parse_model_config_file,
        single_model_config,
        tflite_platform,
    )

    if options.model_config_file:
        return parse_model_config_file(options.model_config_file)
    platform = tflite_platform(options.model_platform, options.tflite_variant)
    return [single_model_config(options.model_name, options.model_base_path, platform)]


def _parse_text_proto(path: str, message, type_name: str):
    from google.protobuf import text_format

    try:
        text = Path(path).read_text()
    except OSError as err:
        raise FlagError(f"cannot read {path}: {err.strerror}") from None
    try:
        return text_format.Parse(text, message)
    except text_format.ParseError as err:
        raise FlagError(f"Error parsing text-format {type_name} in {path}: {err}") from None


def load_batching_options(path: str) -> BatchingOptions:
    """``BatchingParameters`` from a text proto (TF Serving's defaults for unset fields)."""
    if not path:
        return BatchingOptions()
    from common import wire

    params = _parse_text_proto(
        path, wire.BatchingParameters(), "tensorflow.serving.BatchingParameters"
    )
    defaults = BatchingOptions()

    def wrapped(name: str, default):
        return getattr(params, name).value if params.HasField(name) else default

    splitting = wrapped("enable_large_batch_splitting", defaults.enable_large_batch_splitting)
    options = BatchingOptions(
        max_batch_size=wrapped("max_batch_size", defaults.max_batch_size),
        batch_timeout_micros=wrapped("batch_timeout_micros", defaults.batch_timeout_micros),
        max_enqueued_batches=wrapped("max_enqueued_batches", defaults.max_enqueued_batches),
        num_batch_threads=wrapped("num_batch_threads", defaults.num_batch_threads),
        allowed_batch_sizes=tuple(params.allowed_batch_sizes),
        thread_pool_name=wrapped("thread_pool_name", defaults.thread_pool_name),
        max_execution_batch_size=wrapped("max_execution_batch_size", 0),
        enable_large_batch_splitting=splitting,
        pad_variable_length_inputs=params.pad_variable_length_inputs,
    )
    _check_batching(options, params.HasField("max_execution_batch_size"))
    return options


def _check_batching(options: BatchingOptions, has_execution_size: bool) -> None:
    """TF Serving's checks (``batching_session.cc``, ``shared_batch_scheduler.h``)."""
    if options.max_batch_size <= 0 or options.num_batch_threads <= 0:
        raise FlagError("max_batch_size and num_batch_threads must be positive")
    if options.max_enqueued_batches <= 0 or options.batch_timeout_micros < 0:
        raise FlagError(
            "max_enqueued_batches must be positive and batch_timeout_micros non-negative"
        )
    execution = options.execution_batch_size
    if options.enable_large_batch_splitting and execution > options.max_batch_size:
        raise FlagError(
            "When enable_large_batch_splitting is true, max_batch_size must be greater than "
            f"or equal to max_execution_batch_size ({options.max_batch_size} < {execution})"
        )
    if options.enable_large_batch_splitting and execution <= 0:
        raise FlagError("max_execution_batch_size must be positive")
    if has_execution_size and not options.enable_large_batch_splitting:
        log.warning(
            "max_execution_batch_size has no effect without enable_large_batch_splitting "
            "(as in TF Serving): batches hold up to max_batch_size=%d rows",
            options.max_batch_size,
        )
    sizes = options.allowed_batch_sizes
    last = execution if options.enable_large_batch_splitting else options.max_batch_size
    name = "max_execution_batch_size" if options.enable_large_batch_splitting else "max_batch_size"
    if sizes and (list(sizes) != sorted(set(sizes)) or sizes[-1] != last):
        raise FlagError(
            f"allowed_batch_sizes must be strictly increasing and end with {name} "
            f"({last}); got {list(sizes)}"
        )
    if options.pad_variable_length_inputs:
        log.warning(
            "pad_variable_length_inputs: only input dimensions a signature declares variable "
            "(-1 or unknown rank) are padded; models with fixed input shapes (the exporter's "
            "image signatures) never merge differently shaped requests, so it has no effect "
            "on them"
        )


def load_prometheus_path(path: str) -> str | None:
    """The Prometheus page path from a ``MonitoringConfig`` file (None: no page)."""
    if not path:
        return None
    from common import wire

    config = _parse_text_proto(path, wire.MonitoringConfig(), "tensorflow.serving.MonitoringConfig")
    if not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or DEFAULT_PROMETHEUS_PATH


def channel_arguments(text: str) -> list[tuple[str, object]]:
    """``--grpc_channel_arguments=k=v,k=v`` (integer values become ints)."""
    args: list[tuple[str, object]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise FlagError(f"--grpc_channel_arguments: {item!r} is not key=value")
        args.append((key, int(value) if value.lstrip("-").isdigit() else value))
    return args


class ConfigFileWatcher:
    """Re-read ``--model_config_file`` periodically; a changed list replaces the served one."""

    def __init__(self, path: str, every_seconds: float, core) -> None:
        self.path, self.every, self.core = Path(path), every_seconds, core
        self._task: asyncio.Task | None = None
        self._last = self._read()

    def _read(self) -> str | None:
        try:
            return self.path.read_text()
        except OSError:
            return None

    def start(self) -> None:
        """Start polling on the running event loop."""
        self._task = spawn(self._loop(), "model-config-poller")

    def stop(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()

    async def _loop(self) -> None:
        from serving.model_config import parse_model_config_file

        while True:
            await asyncio.sleep(self.every)
            text = self._read()
            if text is None or text == self._last:
                continue
            self._last = text
            try:
                await self.core.reload(parse_model_config_file(self.path))
                log.info("Reloaded model config from %s", self.path)
            except Exception as err:  # keep serving the previous config
                log.error("Model config %s not applied: %s", self.path, err)
