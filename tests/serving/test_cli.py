"""``serving serve`` flags: TF Serving's spellings, our additions, errors as one line + exit 1."""

from __future__ import annotations

import subprocess
import sys

import pytest

from serving.cli import _normalise
from serving.server_options import FlagError, ServerOptions, parse_flags

BASE = ["--model_base_path=/models/m"]


def cli(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from serving.cli import main; sys.argv[0] = 'serving'; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )


def parse(*args: str) -> ServerOptions:
    return parse_flags(_normalise([*args, *BASE]))


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
        (["-enable_batching"], True),
        (["--noenable_batching"], False),
        ([], False),
    ],
)
def test_boolean_flag_forms(args, expected):
    assert parse(*args).enable_batching is expected


def test_a_tf_serving_command_line_works_unchanged():
    options = parse_flags(
        _normalise(
            [
                "--port=8500", "--rest_api_port=8501", "--model_name=half_plus_two",
                "--model_base_path=/models/half_plus_two", "--rest_api_timeout_in_ms=5000",
                "--grpc_socket_path=/tmp/tf-serving.sock", "--enable_model_warmup=false",
                "--tensorflow_intra_op_parallelism=2", "--rest_api_num_threads", "8",
                "--grpc_channel_arguments=grpc.max_concurrent_streams=1000",
            ]
        )
    )
    assert options.model_name == "half_plus_two" and options.rest_api_timeout_in_ms == 5000
    assert not options.enable_model_warmup
    assert options.grpc_socket_path == "/tmp/tf-serving.sock"
    assert options.tensorflow_intra_op_parallelism == 2


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
