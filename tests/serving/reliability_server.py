"""Helpers for the reliability tests: ``serving serve`` as a subprocess, gRPC stubs and
half_plus versions whose answer names the version (version v computes ``0.5 * x + v``).

The subprocess reports its ports through ``--port_file``. ``audit_log`` installs a Python
audit hook in the server that records every path the server opens, lists or renames, so a
test can prove that a path never reached the file system.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.serving.contract_models import install_version
from tests.serving.half_plus_two import write_half_plus

X = 2.0  # every probe predicts at x = 2: version v answers 1 + v


def answer_version(y: float) -> int:
    """The version that answered ``y`` for x = 2 (version v computes 0.5 * x + v)."""
    return round(y - 1.0)


def make_templates(root: Path, versions: tuple[int, ...]) -> dict[int, Path]:
    """SavedModel templates: version v computes ``0.5 * x + v``."""
    return {v: write_half_plus(root, v, float(v)) for v in versions}


def publish(template: Path, base: Path, version: int) -> Path:
    """Publish ``template`` as ``base/version`` atomically (copy to a temp name, rename)."""
    return install_version(template, base, version)


def publish_corrupt(base: Path, version: int) -> Path:
    """Publish (atomically) a complete-looking version whose ``saved_model.pb`` is garbage."""
    staging = base / f".tmp-corrupt-{version}"
    (staging / "variables").mkdir(parents=True)
    (staging / "saved_model.pb").write_bytes(b"\x08\x96\x01garbage, not a SavedModel\xff" * 8)
    target = base / str(version)
    staging.rename(target)
    return target


def unpublish(base: Path, version: int) -> None:
    """Remove ``base/version`` the atomic way: rename out of sight, then delete."""
    hidden = base / f".removed-{version}"
    (base / str(version)).rename(hidden)
    shutil.rmtree(hidden)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (temp file next to it, then rename)."""
    staged = path.with_name(path.name + ".new")
    staged.write_text(text)
    staged.replace(path)


_AUDIT_HOOK = """
import os, sys
_fd = os.open(sys.argv.pop(1), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
_EVENTS = {"open", "os.listdir", "os.scandir", "os.rename", "os.remove", "os.rmdir",
           "os.mkdir", "shutil.rmtree", "shutil.copytree", "os.chdir"}
def _hook(event, args):
    if event in _EVENTS and args:
        path = args[0]
        if isinstance(path, (str, bytes, os.PathLike)) and not isinstance(path, int):
            text = os.fsdecode(os.fspath(path))
            os.write(_fd, (event + " " + text.replace(chr(10), " ") + chr(10)).encode(
                "utf-8", "surrogateescape"))
sys.addaudithook(_hook)
"""
_MAIN = "import sys; from serving.cli import main; sys.argv[0] = 'serving'; main()"


@dataclass
class ServerProcess:
    """A running ``serving serve`` subprocess and the ports it reported."""

    process: subprocess.Popen
    ports: dict[str, int]
    log_path: Path
    audit_path: Path | None = None
    extra: dict = field(default_factory=dict)

    def url(self, path: str) -> str:
        """REST URL on loopback."""
        return f"http://127.0.0.1:{self.ports['rest']}{path}"

    def log(self) -> str:
        """What the server wrote to stderr so far."""
        return self.log_path.read_text(errors="replace")

    def audited_paths(self) -> list[str]:
        """Every ``event path`` line the audit hook recorded."""
        if self.audit_path is None or not self.audit_path.exists():
            return []
        return self.audit_path.read_text(errors="replace").splitlines()

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM, wait for the exit code (kill after ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def kill(self) -> None:
        """Kill if still running (fixture teardown)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_server(
    args: list[str], workdir: Path, audit: bool = False, timeout: float = 300.0
) -> ServerProcess:
    """Start ``serving serve ARGS --port_file=...`` and wait until it reports its ports."""
    workdir.mkdir(parents=True, exist_ok=True)
    port_file = workdir / "ports.json"
    log_path = workdir / "server.log"
    audit_path = workdir / "audit.log" if audit else None
    code = (_AUDIT_HOOK + _MAIN) if audit else _MAIN
    argv = [sys.executable, "-c", code]
    if audit_path is not None:
        argv.append(str(audit_path))
    argv += ["serve", *args, f"--port_file={port_file}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with log_path.open("w") as log_file:
        process = subprocess.Popen(argv, stderr=log_file, stdout=log_file, env=env)
    server = ServerProcess(process, {}, log_path, audit_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_file.exists():
            server.ports = json.loads(port_file.read_text())
            return server
        if process.poll() is not None:
            raise AssertionError(f"server exited early ({process.returncode}): {server.log()}")
        time.sleep(0.1)
    server.kill()
    raise AssertionError(f"server did not start in {timeout} s: {server.log()}")


def grpc_stubs(port: int):
    """(channel, PredictionServiceStub, ModelServiceStub) on loopback."""
    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    return (
        channel,
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )


def predict_request(name: str, x: float = X, label: str = "", version: int | None = None):
    """A PredictRequest for ``x`` (float32, shape [1]) on ``serving_default``."""
    from tensorflow_serving.apis import predict_pb2

    from serving.codecs.tensor_proto import from_numpy

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if label:
        request.model_spec.version_label = label
    if version is not None:
        request.model_spec.version.value = version
    from_numpy(np.array([x], np.float32), request.inputs["x"])
    return request
