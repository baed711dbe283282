"""Offline readers for the deployment files in ``docker/``: paths, YAML, Dockerfiles, flags.

Nothing here needs Docker or a cluster: Dockerfiles are split into instructions (line
continuations joined, comments dropped), exec-form arguments are read as JSON, and
``.dockerignore`` files are evaluated with Docker's rule (the last matching pattern wins,
``!`` re-includes, an excluded directory excludes everything below it).
"""

from __future__ import annotations

import fnmatch
import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
TFSERVING = DOCKER / "tfserving"
SERVER = DOCKER / "server"
K8S = DOCKER / "k8s"
CONFIG_FILES = ("models.config", "models.canary.config", "batching_parameters.txt",
                "monitoring.config")
MODEL_NAME = "classifier"

# Flags of tensorflow_model_server (TF Serving's model_servers/main.cc flag list) that these
# files may use; the full binary has more.
TF_SERVING_FLAGS = frozenset({
    "port", "grpc_socket_path", "rest_api_port", "rest_api_num_threads",
    "rest_api_timeout_in_ms", "rest_api_enable_cors_support", "enable_batching",
    "allow_version_labels_for_unavailable_models", "batching_parameters_file",
    "enable_per_model_batching_parameters", "model_config_file",
    "model_config_file_poll_wait_seconds", "model_name", "model_base_path",
    "num_load_threads", "num_unload_threads", "max_num_load_retries",
    "load_retry_interval_micros", "file_system_poll_wait_seconds", "flush_filesystem_caches",
    "tensorflow_session_parallelism", "tensorflow_intra_op_parallelism",
    "tensorflow_inter_op_parallelism", "platform_config_file", "per_process_gpu_memory_fraction",
    "saved_model_tags", "grpc_channel_arguments", "grpc_max_threads", "enable_model_warmup",
    "num_request_iterations_for_warmup", "monitoring_config_file", "ssl_config_file",
})

# `serving serve` flags promised by issue 5 (TF Serving's subset plus our own three).
SERVING_SERVE_FLAGS = frozenset({
    "port", "rest_api_port", "model_name", "model_base_path", "model_config_file",
    "model_config_file_poll_wait_seconds", "file_system_poll_wait_seconds", "enable_batching",
    "batching_parameters_file", "monitoring_config_file", "rest_api_timeout_in_ms",
    "allow_version_labels_for_unavailable_models", "rest_api_enable_cors_support",
    "model_platform", "host", "max_request_bytes",
})


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: upper-cased keyword and its raw argument text."""

    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON (exec) form argument list; raises if the instruction uses shell form."""
        value = json.loads(self.args)
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ValueError(f"{self.keyword} is not a JSON list of strings: {self.args}")
        return value

    def words(self) -> list[str]:
        """Shell-style words of the argument text (for FROM, COPY, ARG, ...)."""
        return shlex.split(self.args)


def read_dockerfile(path: Path) -> list[Instruction]:
    """Split a Dockerfile into instructions, joining ``\\`` continuations, dropping comments."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        text = (pending + line).strip()
        pending = ""
        keyword, _, rest = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), rest.strip()))
    if pending:
        raise ValueError(f"{path}: dangling line continuation at end of file")
    return instructions


def long_flags(argv: list[str]) -> dict[str, str | None]:
    """``--name=value`` / ``--name`` arguments as ``{name: value-or-None}``."""
    flags: dict[str, str | None] = {}
    for arg in argv:
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            flags[name] = value if eq else None
    return flags


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document in a file (safe loader)."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def k8s_objects() -> dict[str, dict[str, Any]]:
    """The Kubernetes objects in ``docker/k8s`` (kustomization excluded), keyed by kind."""
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in load_yaml_documents(path):
            if doc["kind"] in objects:
                raise ValueError(f"two {doc['kind']} objects in docker/k8s")
            objects[doc["kind"]] = doc
    return objects


def dockerignore_excludes(patterns: list[str], relpath: str) -> bool:
    """True if Docker would leave ``relpath`` (context-relative, ``/``-separated) out."""
    parts = relpath.split("/")
    excluded = False
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        for pattern in patterns:
            negate = pattern.startswith("!")
            body = pattern[1:] if negate else pattern
            if _matches(body, prefix):
                excluded = not negate
        if excluded and depth < len(parts) and not _has_reinclude_below(patterns, prefix):
            return True
    return excluded


def _matches(pattern: str, path: str) -> bool:
    if pattern.startswith("**/"):
        tail = pattern[3:]
        return any(fnmatch.fnmatchcase("/".join(path.split("/")[i:]), tail)
                   for i in range(len(path.split("/"))))
    return pattern.count("/") == path.count("/") and fnmatch.fnmatchcase(path, pattern)


def _has_reinclude_below(patterns: list[str], directory: str) -> bool:
    return any(p.startswith("!") and p[1:].startswith(directory + "/") for p in patterns)


def read_ignore_patterns(path: Path) -> list[str]:
    """Non-comment, non-empty lines of a ``.dockerignore`` file."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]
