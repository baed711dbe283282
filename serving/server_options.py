"""``serving serve`` flags: one declared table, parsed once by ``absl.flags`` (gflags syntax).

``ServerOptions`` *is* the flag table: each field is one flag (name, type from the annotation,
default, help). ``WARNED`` lists TF Serving flags that cannot apply here: they are accepted (so a
``tensorflow_model_server`` command line works unchanged) and named in one warning line at
start-up (``ServerOptions.warning``). ``REJECTED`` flags change behaviour we do not have and stop
the server with a message.

``parse_flags`` builds a fresh ``absl.flags.FlagValues`` from these declarations and parses the
command line once, as ``tensorflow_model_server`` (gflags) does: ``--flag=value``,
``--flag value``, ``-flag=value``; booleans also as ``--flag``, ``--noflag``,
``--flag=true|false|1|0|yes|no``; ``--flagfile=FILE`` reads flags from a file. Unknown flags
and bad values raise ``FlagError`` with one line.

Adding a flag: one field here, ``name: type = flag(default, "help")`` (int, float, str or bool;
pass ``parser=`` for a special syntax), plus a check in ``_check`` if some values are invalid;
then read ``options.name`` where it takes effect. ``serving serve --help`` and the docs' table
pick it up from here (the help) and docs/serving.md (the table).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field, fields
from typing import Any

from absl import flags as absl_flags

from serving.platforms import PLATFORMS

__all__ = [
    "ServerOptions",
    "parse_flags",
    "FlagError",
    "flag_help",
    "WARNED",
    "REJECTED",
    "DEFAULT_HEADER_TIMEOUT_SECONDS",
    "saved_model_tags",
]

DEFAULT_HEADER_TIMEOUT_SECONDS = 30.0


class FlagError(ValueError):
    """A bad command line (one-line message)."""


# -- value parsers: absl's, with gflags' boolean words and one-line messages ---------------


class _Int(absl_flags.IntegerParser):
    def parse(self, argument):
        try:
            return super().parse(argument)
        except ValueError:
            raise ValueError("expected int") from None


class _Float(absl_flags.FloatParser):
    def parse(self, argument):
        try:
            return super().parse(argument)
        except ValueError:
            raise ValueError("expected float") from None


class _Bool(absl_flags.BooleanParser):
    """gflags' words: true/false, t/f, 1/0, yes/no, y/n (any case)."""

    def parse(self, argument):
        if isinstance(argument, str):
            low = argument.lower()
            if low in ("true", "t", "1", "yes", "y"):
                return True
            if low in ("false", "f", "0", "no", "n"):
                return False
            raise ValueError("expected true or false")
        return super().parse(argument)


class _PortOrAuto(_Int):
    """An int, or ``auto`` (-1: pick a free port)."""

    def parse(self, argument):
        if argument == "auto":
            return -1
        return super().parse(argument)


_PARSERS: dict[type, type[absl_flags.ArgumentParser]] = {
    int: _Int, float: _Float, bool: _Bool, str: absl_flags.ArgumentParser,
}


def flag(default: Any, help: str, *, parser: absl_flags.ArgumentParser | None = None) -> Any:
    """Declare a ``ServerOptions`` field as a command-line flag."""
    return field(default=default, metadata={"help": help, "parser": parser})


@dataclass
class ServerOptions:
    """The server configuration the command line describes (TF Serving defaults unless noted).

    Every field except ``warned_flags`` is a flag of the same name.
    """

    # -- ports and transport
    port: int = flag(8500, "gRPC port (0 picks a free port)")
    rest_api_port: int = flag(
        8501, "REST port; 0 disables REST, 'auto' picks a free port (TF Serving's default: 0)",
        parser=_PortOrAuto(),
    )
    host: str = flag("127.0.0.1", "address to bind (ours; TF Serving binds all interfaces)")
    grpc_socket_path: str = flag("", "also serve gRPC on this UNIX domain socket")
    ssl_config_file: str = flag(
        "", "SSLConfig text proto: TLS / mutual TLS on gRPC (REST stays HTTP)"
    )
    grpc_channel_arguments: str = flag("", "extra gRPC server args: k=v,k=v")
    grpc_max_threads: int = flag(
        0, "at most this many gRPC calls are handled at once, the others wait "
        "(0 = no limit; TF Serving's default is 4 x CPUs)")
    enable_grpc_healthcheck_service: bool = flag(
        False, "serve grpc.health.v1.Health: SERVING while a model is available, "
        "NOT_SERVING otherwise and while draining")
    rest_api_num_threads: int = flag(
        0, "at most this many REST requests are answered at once, the others wait "
        "(0 = no limit; TF Serving's default is 4 x CPUs)")
    rest_api_timeout_in_ms: int = flag(30000, "REST request deadline (504 when exceeded)")
    rest_api_enable_cors_support: bool = flag(False, "add CORS headers to REST replies")
    rest_api_ui: bool = flag(True, "serve the web page at /ui/ on the REST port (ours)")
    http_header_timeout_seconds: float = flag(
        DEFAULT_HEADER_TIMEOUT_SECONDS,
        "close a REST connection whose request headers are not complete this long after "
        "it opened or went idle, or whose request body stops arriving this long (ours)")
    max_request_bytes: int = flag(256 * 1024 * 1024, "largest accepted REST body (413 above; ours)")
    # -- models
    model_name: str = flag("default", "name of the single model (ignored with --model_config_file)")
    model_base_path: str = flag("", "directory holding the model's version directories")
    model_platform: str = flag("tensorflow", "tensorflow | onnx | tflite (ours)")
    tflite_variant: str = flag(
        "float32", "with --model_platform=tflite: float32 | float16 | dynamic | int8 (ours)"
    )
    model_config_file: str = flag("", "ModelServerConfig text proto (model_config_list)")
    model_config_file_poll_wait_seconds: int = flag(
        0, "re-read the config file this often (0 = once)")
    file_system_poll_wait_seconds: int = flag(1, "scan base paths for versions this often")
    allow_version_labels_for_unavailable_models: bool = flag(
        False, "allow labels on versions not yet loaded")
    saved_model_tags: str = flag(
        "serve", "comma-separated tags of the SavedModel MetaGraph to load")
    prefer_tflite_model: bool = flag(
        False, "serve a tensorflow version's model.tflite with the TFLite runtime when the "
        "version directory has one, else its SavedModel")
    use_tflite_model: bool = flag(
        False, "serve a tensorflow version's model.tflite with the TFLite runtime; a version "
        "without one fails to load")
    max_num_load_retries: int = flag(
        0, "retry a failed load this many times (TF Serving's default: 5; ours 0, a version "
        "whose files change is retried anyway)")
    load_retry_interval_micros: int = flag(
        60_000_000, "wait between load retries, in microseconds (negative: no wait)")
    enable_model_warmup: bool = flag(
        True, "replay assets.extra/tf_serving_warmup_requests at load")
    num_request_iterations_for_warmup: int = flag(
        1, "replays of each warmup record (0 counts as 1)")
    # -- batching, threads, monitoring
    enable_batching: bool = flag(False, "merge concurrent requests into batches")
    batching_parameters_file: str = flag("", "BatchingParameters text proto")
    tensorflow_intra_op_parallelism: int = flag(
        0, "threads per model call, every backend (0 = auto)")
    tensorflow_inter_op_parallelism: int = flag(
        0, "threads between independent ops (0 = auto)")
    monitoring_config_file: str = flag("", "MonitoringConfig text proto (Prometheus page)")
    # -- process (ours)
    port_file: str = flag("", "write the bound ports as JSON here once serving (ours)")
    drain_timeout_seconds: float = flag(
        30.0, "on SIGTERM, wait this long for in-flight requests (ours)")
    debug: bool = flag(False, "show tracebacks on errors (ours)")
    # -- not a flag: the WARNED flags this command line gave
    warned_flags: tuple[str, ...] = field(default=(), metadata={"flag": False})

    def warning(self) -> str | None:
        """The one start-up warning line naming the given flags that have no effect here."""
        if not self.warned_flags:
            return None
        named = ", ".join(f"--{name} ({WARNED[name][1]})" for name in self.warned_flags)
        return f"flags accepted for TF Serving compatibility but without effect here: {named}"


# TF Serving flags that cannot apply here: name -> (TF Serving's default, why).
# The default's type is the flag's type (so `--flag value` and booleans parse as in gflags).
WARNED: dict[str, tuple[Any, str]] = {
    "per_process_gpu_memory_fraction": (0.0, "no GPU support"),
    "xla_cpu_compilation_enabled": (False, "no XLA"),
    "skip_initialize_tpu": (False, "no TPU support"),
    "use_alts_credentials": (False, "no ALTS"),
    "enable_profiler": (True, "no profiler service"),
    "tensorflow_session_parallelism": (0, "deprecated; use the intra/inter-op flags"),
    "tensorflow_session_config_file": ("", "no TensorFlow sessions"),
    "thread_pool_factory_config_file": ("", "no custom thread pools"),
    "mixed_precision": ("", "models run as exported"),
    "remove_unused_fields_from_bundle_metagraph": (True, "no bundle metagraph kept"),
    "flush_filesystem_caches": (True, "no filesystem cache flush"),
    "enable_serialization_as_tensor_content": (False, "gRPC tensors use typed fields"),
    "enable_signature_method_name_check": (False, "method names are not checked"),
    "enable_per_model_batching_parameters": (False, "one batching config for all models"),
    "allow_version_labels": (True, "labels are always allowed"),
    "num_load_threads": (0, "versions load one at a time"),
    "num_unload_threads": (0, "versions unload in the background"),
    "num_tflite_pools": (1, "one interpreter per inference thread"),
    "num_tflite_interpreters_per_pool": (1, "one interpreter per inference thread"),
}
REJECTED: dict[str, str] = {
    "platform_config_file": "platform configs are not supported; use --enable_batching",
}


def _option_flags() -> list[tuple[str, Any, str, absl_flags.ArgumentParser]]:
    hints = typing.get_type_hints(ServerOptions)
    out = []
    for f in fields(ServerOptions):
        if f.metadata.get("flag", True):
            parser = f.metadata.get("parser") or _PARSERS[hints[f.name]]()
            out.append((f.name, f.default, f.metadata["help"], parser))
    return out


def _flag_values() -> absl_flags.FlagValues:
    """A fresh absl flag registry holding every accepted flag (not absl's global FLAGS)."""
    values = absl_flags.FlagValues()
    declared = _option_flags()
    declared += [
        (name, default, f"no effect here ({why}); accepted for TF Serving compatibility",
         _PARSERS[type(default)]())
        for name, (default, why) in WARNED.items()
    ]
    declared += [(name, "", f"rejected: {why}", absl_flags.ArgumentParser())
                 for name, why in REJECTED.items()]
    for name, default, text, parser in declared:
        boolean = isinstance(parser, absl_flags.BooleanParser)
        absl_flags.DEFINE_flag(
            absl_flags.Flag(parser, absl_flags.ArgumentSerializer(), name, default, text,
                            boolean=boolean),
            flag_values=values,
        )
    return values


def _one_line(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text.removeprefix("flag ")


def parse_flags(argv: typing.Sequence[str]) -> ServerOptions:
    """Parse ``serving serve`` arguments (without the program name) into ``ServerOptions``;
    raises ``FlagError`` with a one-line message."""
    values = _flag_values()
    try:
        rest = values(["serving serve", *argv])
    except absl_flags.UnrecognizedFlagError as err:
        raise FlagError(f"unknown flag --{err.flagname}; see `serving serve --help`") from None
    except absl_flags.Error as err:
        raise FlagError(_one_line(err)) from None
    if len(rest) > 1:
        raise FlagError(f"unexpected argument {rest[1]!r}; flags look like --name=value")
    for name, why in REJECTED.items():
        if values[name].present:
            raise FlagError(f"--{name}: {why}")
    options = ServerOptions(
        **{name: values[name].value for name, *_ in _option_flags()},
        warned_flags=tuple(name for name in WARNED if values[name].present),
    )
    _check(options)
    return options


def _check(options: ServerOptions) -> None:
    if options.model_platform not in PLATFORMS:
        raise FlagError(
            f"--model_platform={options.model_platform}: accepted: {', '.join(PLATFORMS)}"
        )
    if options.tflite_variant not in ("float32", "float16", "dynamic", "int8"):
        raise FlagError(
            f"--tflite_variant={options.tflite_variant}: accepted: float32, float16, dynamic, int8"
        )
    if options.tflite_variant != "float32" and (
        options.model_platform != "tflite" or options.model_config_file
    ):
        raise FlagError(
            "--tflite_variant needs --model_platform=tflite and no --model_config_file (in a "
            'config file write model_platform: "tflite:VARIANT")'
        )
    if options.tflite_variant not in ("float32", "float16", "dynamic", "int8"):
        raise FlagError(
            f"--tflite_variant={options.tflite_variant}: accepted: float32, float16, dynamic, int8"
        )
    if options.tflite_variant != "float32" and (
        options.model_platform != "tflite" or options.model_config_file
    ):
        raise FlagError(
            "--tflite_variant needs --model_platform=tflite and no --model_config_file (in a "
            'config file write model_platform: "tflite:VARIANT")'
        )
    if not options.model_config_file and not options.model_base_path:
        raise FlagError("give --model_base_path (with --model_name) or --model_config_file")
    if options.batching_parameters_file and not options.enable_batching:
        raise FlagError("--batching_parameters_file requires --enable_batching")
    if options.port and options.port == options.rest_api_port:
        raise FlagError("--port and --rest_api_port must differ")
    for name in ("tensorflow_intra_op_parallelism", "tensorflow_inter_op_parallelism",
                 "grpc_max_threads", "rest_api_num_threads"):
        if getattr(options, name) < 0:
            raise FlagError(f"--{name} must be 0 (auto) or a positive thread count")
    for name in ("max_num_load_retries", "num_request_iterations_for_warmup"):
        if getattr(options, name) < 0:
            raise FlagError(f"--{name} must be 0 or positive")
    if options.max_request_bytes <= 0:
        raise FlagError("--max_request_bytes must be positive")
    if options.http_header_timeout_seconds <= 0:
        raise FlagError("--http_header_timeout_seconds must be positive")
    if not saved_model_tags(options):
        raise FlagError("--saved_model_tags must name at least one tag, e.g. serve")


def saved_model_tags(options: ServerOptions) -> tuple[str, ...]:
    """``--saved_model_tags`` as a tuple (comma-separated, blanks dropped)."""
    return tuple(t.strip() for t in options.saved_model_tags.split(",") if t.strip())


def flag_help() -> str:
    """Every accepted flag with its default and help, for ``serving serve --help``."""

    def line(name: str, default: Any, text: str) -> str:
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        return f"  --{name}={shown}\n      {text}"

    lines = ["Flags (gflags syntax: --flag=value, --flag value, -flag=value; booleans also "
             "--flag, --noflag, --flag=true|false):"]
    lines += [line(name, default, text) for name, default, text, _ in _option_flags()]
    lines.append("")
    lines.append("Accepted for TF Serving compatibility, no effect here (named in one warning "
                 "line at start-up):")
    lines += [line(name, default, why) for name, (default, why) in WARNED.items()]
    lines.append("")
    lines.append("Rejected:")
    lines += [f"  --{name}\n      {why}" for name, why in REJECTED.items()]
    return "\n".join(lines)
