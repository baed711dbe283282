"""The peer servers: each installed in its own venv under ``.tools/peers/NAME`` (pinned, from
PyPI) and started as its own process group on 127.0.0.1 ports chosen here.

- ``kserve``: KServe 0.21, onnxruntime in a ``kserve.Model`` (V1 REST, V2 gRPC; no batcher);
- ``pytriton``: nvidia-pytriton 0.7 (Triton's C++ front end + dynamic batcher, max batch 16,
  no queue delay), onnxruntime in the Python model (V2 REST/gRPC);
- ``mlserver``: MLServer 1.7.1 with ``uvloop<0.22`` (MLServer 1.7.1 fails on uvloop 0.22's
  loop policy change), onnxruntime in a custom ``MLModel``, adaptive batching on
  (max batch 16, ``max_batch_time`` 1 ms: MLServer's batcher waits at most that long).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VENVS = REPO / ".tools" / "peers"
ORT = "onnxruntime==1.32.0"  # the project's pin (constraints.txt)
REQUIREMENTS = {
    "kserve": ["kserve==0.21.0", ORT],
    "pytriton": ["nvidia-pytriton==0.7.0", ORT],
    "mlserver": ["mlserver==1.7.1", "uvloop<0.22", ORT],
}


def ensure_venv(name: str) -> Path:
    """The peer's venv python, creating the venv and installing its pins when the stamp (the
    requirement list) differs. Idempotent; pip output goes to ``.tools/peers/NAME.log``."""
    venv = VENVS / name
    stamp = venv / ".peer-requirements"
    wanted = "\n".join(REQUIREMENTS[name]) + "\n"
    python = venv / "bin" / "python"
    if stamp.is_file() and stamp.read_text() == wanted and python.is_file():
        return python
    VENVS.mkdir(parents=True, exist_ok=True)
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    with (VENVS / f"{name}.log").open("ab") as log:
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                               *REQUIREMENTS[name]], stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"error: installing {name} ({' '.join(REQUIREMENTS[name])}) failed; "
                         f"see .tools/peers/{name}.log")
    stamp.write_text(wanted)
    return python


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (released at once; the server binds it next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


class PeerProcess:
    """One peer server (context manager): start, wait until its model is ready, stop."""

    def __init__(self, name: str, onnx_path: Path, workdir: Path, max_batch: int = 16,
                 start_timeout: float = 300.0) -> None:
        self.name, self.onnx_path, self.workdir = name, onnx_path, workdir
        self.max_batch, self.start_timeout = max_batch, start_timeout
        self.rest, self.grpc, self.metrics = free_port(), free_port(), free_port()
        self.proc: subprocess.Popen | None = None
        self.command = ""

    def _command(self, python: Path) -> tuple[list[str], str]:
        """(argv, readiness URL)."""
        model = str(self.onnx_path)
        if self.name == "kserve":
            return ([str(python), str(HERE / "kserve_server.py"), model, str(self.rest),
                     str(self.grpc)], f"http://127.0.0.1:{self.rest}/v1/models/m")
        if self.name == "pytriton":
            return ([str(python), str(HERE / "pytriton_server.py"), model, str(self.rest),
                     str(self.grpc), str(self.metrics), str(self.max_batch)],
                    f"http://127.0.0.1:{self.rest}/v2/models/m/ready")
        if self.name == "mlserver":
            home = self.workdir / "mlserver"
            (home / "m").mkdir(parents=True, exist_ok=True)
            shutil.copy(HERE / "mlserver_runtime.py", home / "m" / "mlserver_runtime.py")
            (home / "settings.json").write_text(json.dumps({
                "host": "127.0.0.1", "http_port": self.rest, "grpc_port": self.grpc,
                "metrics_port": self.metrics, "load_models_at_startup": True}))
            (home / "m" / "model-settings.json").write_text(json.dumps({
                "name": "m", "implementation": "mlserver_runtime.OnnxModel",
                "max_batch_size": self.max_batch, "max_batch_time": 0.001,
                "parameters": {"uri": model}}))
            return ([str(python.parent / "mlserver"), "start", str(home)],
                    f"http://127.0.0.1:{self.rest}/v2/models/m/ready")
        raise ValueError(f"unknown peer {self.name!r}; known: {', '.join(REQUIREMENTS)}")

    def __enter__(self) -> PeerProcess:
        python = ensure_venv(self.name)
        argv, ready_url = self._command(python)
        self.command = " ".join(argv).replace(str(REPO) + "/", "").replace(
            str(self.workdir), "WORKDIR")
        for port, label in ((self.rest, "REST_PORT"), (self.grpc, "GRPC_PORT"),
                            (self.metrics, "METRICS_PORT")):
            self.command = self.command.replace(f" {port}", f" {label}")
        log = (self.workdir / f"{self.name}.log").open("ab")
        env = {**os.environ, "PYTHONPATH": str(HERE)}
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                     cwd=self.workdir, start_new_session=True)
        log.close()
        started = time.monotonic()
        while not _ready(ready_url):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before it "
                                   f"was ready; see {self.workdir / (self.name + '.log')}")
            if time.monotonic() - started > self.start_timeout:
                self.__exit__()
                raise RuntimeError(f"{self.name} not ready within {self.start_timeout:.0f}s")
            time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)  # the peer's own process group (Triton, workers)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    @property
    def rest_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.rest}"

    @property
    def grpc_target(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.grpc}"
