"""``serving serve`` flags: TF Serving's spellings, our additions, errors as one line + exit 1,
``--help`` lists every accepted flag, unsupported flags named in one start-up warning line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from serving.server_options import (
    REJECTED,
    WARNED,
    FlagError,
    ServerOptions,
    _option_flags,
    parse_flags,
)

BASE = ["--model_base_path=/models/m"]


def cli(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from serving.cli import main; sys.argv[0] = 'serving'; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


def parse(*args: str) -> ServerOptions:
    return parse_flags([*args, *BASE])


def test_defaults_follow_tf_serving_plus_ours():
    options = parse()
    assert (options.port, options.rest_api_port, options.host) == (8500, 8501, "127.0.0.1")
    assert options.model_name == "default" and options.rest_api_timeout_in_ms == 30000
    assert options.file_system_poll_wait_seconds == 1 and options.enable_model_warmup


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--enable_batching"], True),
        (["--enable_batching=true"], True),
        (["--enable_batching=false"], False),
        (["--enable_batching=1"], True),
        (["--enable_batching=yes"], True),
        (["--enable_batching=N"], False),
        (["-enable_batching"], True),
        (["--noenable_batching"], False),
        ([], False),
    ],
)
def test_boolean_flag_forms(args, expected):
    assert parse(*args).enable_batching is expected


def test_a_tf_serving_command_line_works_unchanged():
    options = parse_flags(
        [
            "--port=8500", "--rest_api_port=8501", "--model_name=half_plus_two",
            "--model_base_path=/models/half_plus_two", "--rest_api_timeout_in_ms=5000",
            "--grpc_socket_path=/tmp/tf-serving.sock", "--enable_model_warmup=false",
            "--tensorflow_intra_op_parallelism=2", "--rest_api_num_threads", "8",
            "--grpc_channel_arguments=grpc.max_concurrent_streams=1000",
        ]
    )
    assert options.model_name == "half_plus_two" and options.rest_api_timeout_in_ms == 5000
    assert not options.enable_model_warmup
    assert options.grpc_socket_path == "/tmp/tf-serving.sock"
    assert options.tensorflow_intra_op_parallelism == 2 and options.rest_api_num_threads == 8
    assert options.warning() is None


def test_space_separated_values_and_ours():
    options = parse("--port", "9000", "--model_platform=onnx", "--host=0.0.0.0",
                    "--max_request_bytes=1024", "--rest_api_port=auto")
    assert (options.port, options.model_platform, options.host) == (9000, "onnx", "0.0.0.0")
    assert options.max_request_bytes == 1024 and options.rest_api_port == -1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model_platform=pytorch"], "accepted: tensorflow, onnx, tflite"),
        (["--port=http"], "--port=http: expected int"),
        (["--no_such_flag=1"], "unknown flag --no_such_flag"),
        (["--noport"], "unknown flag --noport"),
        (["--model_name=m", "stray"], "unexpected argument 'stray'"),
        (["--saved_model_tags=,"], "--saved_model_tags must name at least one tag"),
        (["--max_num_load_retries=-1"], "--max_num_load_retries must be 0 or positive"),
        (["--grpc_max_threads=-1"], "--grpc_max_threads must be 0"),
        (["--http_header_timeout_seconds=0"], "must be positive"),
        (["--platform_config_file=/p"], "platform configs are not supported"),
        (["--batching_parameters_file=/b.txt"], "requires --enable_batching"),
        (["--port=8501"], "--port and --rest_api_port must differ"),
        (["--enable_batching=maybe"], "expected true or false"),
        (["--platform_config_file=/x"], "platform configs are not supported"),
        (["--tensorflow_intra_op_parallelism=-2"], "must be 0 \\(auto\\) or a positive"),
    ],
)
def test_bad_flags(args, message):
    with pytest.raises(FlagError, match=message):
        parse(*args)


def test_flag_without_its_value_at_the_end():
    with pytest.raises(FlagError, match="^Missing value for flag --port$"):
        parse_flags([*BASE, "--port"])


def test_missing_model_is_reported():
    with pytest.raises(FlagError, match="--model_base_path"):
        parse_flags([])


def test_cli_bad_flag_is_one_line_and_exit_1():
    result = cli("serve", "--model_base_path=/m", "--model_platform=pytorch")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "serving serve: --model_platform=pytorch: accepted: tensorflow, onnx, tflite"
    ]


def test_cli_unparsable_model_config_is_one_line(tmp_path):
    config = tmp_path / "models.config"
    config.write_text("model_config_list { config { nme: 'x' } }")
    result = cli("serve", f"--model_config_file={config}", "--port=0", "--rest_api_port=0")
    lines = [line for line in result.stderr.splitlines() if line.startswith("serving serve:")]
    assert result.returncode == 1 and len(lines) == 1 and "Traceback" not in result.stderr
    assert "ModelServerConfig" in lines[0]


def test_cli_help_lists_tf_serving_flags():
    result = cli("serve", "--help")
    assert result.returncode == 0
    for flag in ("--rest_api_port", "--enable_batching", "--model_config_file", "--model_platform"):
        assert flag in result.stdout


def test_cli_unknown_flag_is_one_line_naming_it():
    result = cli("serve", "--model_base_path=/m", "--rest_api_prot=9000")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "serving serve: unknown flag --rest_api_prot; see `serving serve --help`"
    ]


def test_cli_help_lists_every_accepted_flag_with_its_help():
    result = cli("serve", "--help")
    assert result.returncode == 0
    text = result.stdout
    for name, _, help_text, _ in _option_flags():
        assert f"--{name}=" in text and help_text in text, name
    for name, (_, why) in WARNED.items():
        assert f"--{name}=" in text and why in text, name
    for name in REJECTED:
        assert f"--{name}" in text, name


def test_warned_flags_parse_with_their_types_and_are_named_in_one_line():
    options = parse("--per_process_gpu_memory_fraction", "0.5", "--enable_profiler",
                    "--noxla_cpu_compilation_enabled", "--num_load_threads=4", "--port=9000")
    assert options.port == 9000  # `--enable_profiler` took no value from what follows
    assert options.warned_flags == ("per_process_gpu_memory_fraction",
                                    "xla_cpu_compilation_enabled", "enable_profiler",
                                    "num_load_threads")
    line = options.warning()
    assert "\n" not in line
    for name in options.warned_flags:
        assert f"--{name} (" in line
    with pytest.raises(FlagError, match="per_process_gpu_memory_fraction=lots: expected float"):
        parse("--per_process_gpu_memory_fraction=lots")


def test_flagfile_is_read_as_gflags_does(tmp_path):
    flagfile = tmp_path / "serving.flags"
    flagfile.write_text("--port=9100\n--enable_batching\n")
    options = parse(f"--flagfile={flagfile}")
    assert options.port == 9100 and options.enable_batching


def test_implemented_flags_reach_the_options():
    options = parse("--saved_model_tags=serve,gpu", "--prefer_tflite_model",
                    "--max_num_load_retries=3", "--load_retry_interval_micros=250000",
                    "--grpc_max_threads=4", "--enable_grpc_healthcheck_service=true",
                    "--num_request_iterations_for_warmup=7", "--http_header_timeout_seconds=2.5")
    assert options.saved_model_tags == "serve,gpu" and options.prefer_tflite_model
    assert (options.max_num_load_retries, options.load_retry_interval_micros) == (3, 250000)
    assert options.grpc_max_threads == 4 and options.enable_grpc_healthcheck_service
    assert options.num_request_iterations_for_warmup == 7
    assert options.http_header_timeout_seconds == 2.5 and options.warned_flags == ()


def test_python_dash_m_runs_the_cli() -> None:
    """``python -m serving.cli serve --help`` is the same program as the ``serving`` command."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "serving.cli", "serve", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--model_base_path" in done.stdout and "--ssl_config_file" in done.stdout
