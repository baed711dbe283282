"""Sanity checks of docker/tfserving/Dockerfile and docker/server/Dockerfile (no engine here).

Checked: base images and pins, that every COPY source exists in the build context and is
not dropped by the ignore file, that the server flags exist (tensorflow_model_server's flag
list; `serving serve`'s promised flags and, once present, its real CLI options), and that
the file flags point at files the image copies.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.docker.deploy_files import (
    CONFIG_FILES,
    MODEL_NAME,
    REPO,
    SERVER,
    SERVING_SERVE_FLAGS,
    TF_SERVING_FLAGS,
    TFSERVING,
    Instruction,
    dockerignore_excludes,
    k8s_objects,
    long_flags,
    read_dockerfile,
    read_ignore_patterns,
)

FILE_FLAGS = ("model_config_file", "batching_parameters_file", "monitoring_config_file")


def _one(instructions: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in instructions if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, got {len(found)}"
    return found[0]


def _copied_to_config(instructions: list[Instruction]) -> set[str]:
    names: set[str] = set()
    for copy in (i for i in instructions if i.keyword == "COPY"):
        *sources, destination = copy.words()
        if destination == "/config/":
            names.update(source.rsplit("/", 1)[-1] for source in sources)
    return names


def _pinned_tensorflow() -> str:
    pins = dict(line.split("==") for line in (REPO / "constraints.txt").read_text().split()
                if "==" in line)
    return pins["tensorflow"]


def _check_entrypoint_files(instructions: list[Instruction], flags: dict[str, str | None]) -> None:
    copied = _copied_to_config(instructions)
    assert copied == set(CONFIG_FILES)
    for flag in FILE_FLAGS:
        directory, _, name = (flags[flag] or "").rpartition("/")
        assert directory == "/config" and name in copied, f"--{flag}={flags[flag]}"
    assert flags["enable_batching"] == "true"  # TF Serving refuses the file without it
    assert (flags["port"], flags["rest_api_port"]) == ("8500", "8501")


def test_tfserving_image_is_the_official_one_pinned_to_our_tensorflow() -> None:
    instructions = read_dockerfile(TFSERVING / "Dockerfile")
    assert instructions[0].keyword == "ARG"
    assert instructions[0].args == f"TF_SERVING_TAG={_pinned_tensorflow()}"
    assert _one(instructions, "FROM").args == "tensorflow/serving:${TF_SERVING_TAG}"
    for copy in (i for i in instructions if i.keyword == "COPY"):
        for source in copy.words()[:-1]:
            assert (TFSERVING / source).is_file(), f"COPY source {source} missing"


def test_tfserving_entrypoint_uses_real_flags_and_copied_files() -> None:
    instructions = read_dockerfile(TFSERVING / "Dockerfile")
    argv = _one(instructions, "ENTRYPOINT").exec_form()
    assert argv[0] == "tensorflow_model_server"
    flags = long_flags(argv[1:])
    assert set(flags) <= TF_SERVING_FLAGS, set(flags) - TF_SERVING_FLAGS
    assert flags["enable_model_warmup"] == "true"
    _check_entrypoint_files(instructions, flags)
    assert f"127.0.0.1:8501/v1/models/{MODEL_NAME}" in _one(instructions, "HEALTHCHECK").args
    assert _one(instructions, "EXPOSE").words() == ["8500", "8501"]


def test_k8s_runs_tf_serving_with_the_same_flags_as_the_image() -> None:
    image_flags = long_flags(_one(read_dockerfile(TFSERVING / "Dockerfile"),
                                  "ENTRYPOINT").exec_form()[1:])
    container = k8s_objects()["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    k8s_flags = long_flags(container["args"])
    assert {k: k8s_flags.get(k) for k in image_flags} == image_flags


def test_server_image_installs_the_project_with_constraints() -> None:
    instructions = read_dockerfile(SERVER / "Dockerfile")
    assert _one(instructions, "FROM").args == "python:3.11-slim"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"].startswith(">=3.11")
    assert pyproject["project"]["scripts"]["serving"] == "common.entry:serving"
    assert any("pip install -c constraints.txt '.[serve]'" in i.args
               for i in instructions if i.keyword == "RUN")


def test_server_build_context_sends_what_is_copied_and_nothing_heavy() -> None:
    patterns = read_ignore_patterns(SERVER / "Dockerfile.dockerignore")
    for copy in (i for i in read_dockerfile(SERVER / "Dockerfile") if i.keyword == "COPY"):
        for source in copy.words()[:-1]:
            assert (REPO / source).exists(), f"COPY source {source} missing from the repo"
            assert not dockerignore_excludes(patterns, source), f"{source} is ignored"
    for heavy in (".venv/bin/python", "runs/x/model.keras", "models/classifier/1/saved_model.pb",
                  ".git/HEAD", "demo/x", "serving/__pycache__/x.pyc"):
        assert dockerignore_excludes(patterns, heavy), f"{heavy} would be sent to the builder"


def test_server_entrypoint_is_tf_serving_compatible_and_listens_on_all_interfaces() -> None:
    instructions = read_dockerfile(SERVER / "Dockerfile")
    argv = _one(instructions, "ENTRYPOINT").exec_form()
    assert argv[:2] == ["serving", "serve"]
    flags = long_flags(argv[2:])
    assert set(flags) <= SERVING_SERVE_FLAGS, set(flags) - SERVING_SERVE_FLAGS
    assert flags["host"] == "0.0.0.0"  # default 127.0.0.1 is unreachable from outside
    _check_entrypoint_files(instructions, flags)
    tfs_flags = long_flags(_one(read_dockerfile(TFSERVING / "Dockerfile"),
                                "ENTRYPOINT").exec_form()[1:])
    shared = set(flags) & set(tfs_flags)
    assert {k: flags[k] for k in shared} == {k: tfs_flags[k] for k in shared}
    assert f"127.0.0.1:8501/v1/models/{MODEL_NAME}" in _one(instructions, "HEALTHCHECK").args


def test_server_flags_exist_in_the_serving_cli() -> None:
    from serving.server_options import parse_flags

    argv = _one(read_dockerfile(SERVER / "Dockerfile"), "ENTRYPOINT").exec_form()
    options = parse_flags(argv[2:])  # the one `serving serve` parser; raises on unknown flags
    assert options.warned_flags == (), "the image passes flags that have no effect"
    for name, value in long_flags(argv[2:]).items():
        assert str(getattr(options, name)).lower() == (value or "true").lower(), name


@pytest.mark.parametrize("path", [TFSERVING / "Dockerfile", SERVER / "Dockerfile"],
                         ids=["tfserving", "server"])
def test_docker_parser_agrees_with_ours(path: Path) -> None:
    official = pytest.importorskip(
        "dockerfile", reason="dockerfile (Docker's Go parser) not installed: "
                             "pip install dockerfile==3.4.0")
    commands = official.parse_file(str(path))
    ours = read_dockerfile(path)
    assert [c.cmd.upper() for c in commands] == [i.keyword for i in ours]
    for command, instruction in zip(commands, ours, strict=True):
        if command.cmd.upper() in {"ENTRYPOINT", "CMD"}:
            assert command.json, f"{command.cmd} must use the exec (JSON) form"
            assert list(command.value) == instruction.exec_form()
