"""``serving serve`` flags, parsed the way ``tensorflow_model_server`` (gflags) parses them.

Accepted forms: ``--flag=value``, ``--flag value``, single-dash ``-flag=value``; booleans also as
``--flag``, ``--noflag`` and ``--flag=true|false|1|0|yes|no``. Every TF Serving flag is accepted;
those without an effect here are listed in ``IGNORED`` (documented), and the few that change
behaviour we do not implement are rejected with a clear message. Ours on top:
``--model_platform``, ``--host``, ``--max_request_bytes``, ``--port_file``, ``--debug``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from serving.platforms import PLATFORMS

__all__ = ["ServerOptions", "parse_flags", "FlagError", "flag_help", "IGNORED"]


class FlagError(ValueError):
    """A bad command line (one-line message)."""


@dataclass
class ServerOptions:
    """The server configuration the command line describes (TF Serving defaults)."""

    port: int = 8500
    rest_api_port: int = 8501  # TF Serving: 0 (off); ours serves REST by default. 0 = off
    host: str = "127.0.0.1"
    model_name: str = "default"
    model_base_path: str = ""
    model_platform: str = "tensorflow"
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: int = 0
    file_system_poll_wait_seconds: int = 1
    enable_batching: bool = False
    batching_parameters_file: str = ""
    monitoring_config_file: str = ""
    rest_api_timeout_in_ms: int = 30000
    rest_api_enable_cors_support: bool = False
    allow_version_labels_for_unavailable_models: bool = False
    enable_model_warmup: bool = True
    num_request_iterations_for_warmup: int = 1
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    grpc_channel_arguments: str = ""
    grpc_socket_path: str = ""
    max_request_bytes: int = 256 * 1024 * 1024
    port_file: str = ""
    drain_timeout_seconds: float = 30.0
    debug: bool = False


HELP = {
    "port": "gRPC port (0 picks a free port)",
    "rest_api_port": "REST port; 0 disables REST, 'auto' picks a free port",
    "host": "address to bind (ours; TF Serving binds all interfaces)",
    "model_name": "name of the single model (ignored with --model_config_file)",
    "model_base_path": "directory holding the model's version directories",
    "model_platform": "tensorflow | onnx | tflite (ours)",
    "model_config_file": "ModelServerConfig text proto (model_config_list)",
    "model_config_file_poll_wait_seconds": "re-read the config file this often (0 = once)",
    "file_system_poll_wait_seconds": "scan base paths for versions this often",
    "enable_batching": "merge concurrent requests into batches",
    "batching_parameters_file": "BatchingParameters text proto",
    "monitoring_config_file": "MonitoringConfig text proto (Prometheus page)",
    "rest_api_timeout_in_ms": "REST request deadline (504 when exceeded)",
    "rest_api_enable_cors_support": "add CORS headers to REST replies",
    "allow_version_labels_for_unavailable_models": "allow labels on versions not yet loaded",
    "enable_model_warmup": "replay assets.extra/tf_serving_warmup_requests at load",
    "num_request_iterations_for_warmup": "replays per warmup record",
    "tensorflow_intra_op_parallelism": "threads per model call, every backend (0 = auto)",
    "tensorflow_inter_op_parallelism": "threads between independent ops (0 = auto)",
    "grpc_channel_arguments": "extra gRPC server args: k=v,k=v",
    "grpc_socket_path": "also serve gRPC on this UNIX domain socket",
    "max_request_bytes": "largest accepted REST body (413 above; ours)",
    "port_file": "write the bound ports as JSON here once serving (ours)",
    "drain_timeout_seconds": "on SIGTERM, wait this long for in-flight requests (ours)",
    "debug": "show tracebacks on errors (ours)",
}

# TF Serving flags accepted for compatibility that change nothing here.
IGNORED = {
    "rest_api_num_threads", "grpc_max_threads", "max_num_load_retries",
    "load_retry_interval_micros", "flush_filesystem_caches", "tensorflow_session_parallelism",
    "per_process_gpu_memory_fraction", "saved_model_tags", "enable_profiler",
    "allow_version_labels", "enable_signature_method_name_check", "use_tflite_model",
    "prefer_tflite_model", "enable_per_model_batching_parameters",
    "remove_unused_fields_from_bundle_metagraph",
    "xla_cpu_compilation_enabled", "enable_grpc_healthcheck_service", "use_alts_credentials",
    "thread_pool_factory_config_file", "mixed_precision",
    "skip_initialize_tpu", "enable_serialization_as_tensor_content",
}
REJECTED = {
    "platform_config_file": "platform configs are not supported; use --enable_batching",
    "ssl_config_file": "TLS is not supported; terminate TLS in front of the server",
}
_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def _convert(name: str, kind: type, raw: str):
    if kind is bool:
        low = raw.lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise FlagError(f"--{name}={raw}: expected true or false")
    if name == "rest_api_port" and raw == "auto":
        return -1
    try:
        return kind(raw)
    except ValueError:
        raise FlagError(f"--{name}={raw}: expected {kind.__name__}") from None


def parse_flags(argv: list[str]) -> ServerOptions:
    """Parse ``serving serve`` arguments into ``ServerOptions`` (raises ``FlagError``)."""
    kinds = {f.name: {"int": int, "str": str, "bool": bool, "float": float}[f.type]
             for f in fields(ServerOptions)}
    values: dict[str, object] = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if not arg.startswith("-") or arg in ("-", "--"):
            raise FlagError(f"unexpected argument {arg!r}; flags look like --name=value")
        body = arg.lstrip("-")
        name, has_value, raw = body.partition("=")
        negated = not has_value and name.startswith("no") and name[2:] in kinds
        if negated:
            name = name[2:]
        if name in REJECTED:
            raise FlagError(f"--{name}: {REJECTED[name]}")
        if name in IGNORED:
            if not has_value and args and not args[0].startswith("-") and not negated:
                args.pop(0)
            continue
        if name not in kinds:
            raise FlagError(f"unknown flag --{name}; see `serving serve --help`")
        kind = kinds[name]
        if kind is bool and not has_value:
            values[name] = not negated
            continue
        if not has_value:
            if not args:
                raise FlagError(f"--{name} needs a value")
            raw = args.pop(0)
        values[name] = _convert(name, kind, raw)
    options = ServerOptions(**values)
    _check(options)
    return options


def _check(options: ServerOptions) -> None:
    if options.model_platform not in PLATFORMS:
        raise FlagError(
            f"--model_platform={options.model_platform}: accepted: {', '.join(PLATFORMS)}"
        )
    if not options.model_config_file and not options.model_base_path:
        raise FlagError("give --model_base_path (with --model_name) or --model_config_file")
    if options.batching_parameters_file and not options.enable_batching:
        raise FlagError("--batching_parameters_file requires --enable_batching")
    if options.port and options.port == options.rest_api_port:
        raise FlagError("--port and --rest_api_port must differ")
    for name in ("tensorflow_intra_op_parallelism", "tensorflow_inter_op_parallelism"):
        if getattr(options, name) < 0:
            raise FlagError(f"--{name} must be 0 (auto) or a positive thread count")
    if options.max_request_bytes <= 0:
        raise FlagError("--max_request_bytes must be positive")


def flag_help() -> str:
    """One line per flag with its default, for ``--help``."""
    lines = []
    for f in fields(ServerOptions):
        lines.append(f"  --{f.name}={f.default!s:<12} {HELP.get(f.name, '')}")
    lines.append("  TF Serving flags accepted without effect: " + ", ".join(sorted(IGNORED)))
    return "\n".join(lines)
