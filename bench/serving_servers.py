"""Server processes for the serving benchmark: ``serving serve`` and the naive Flask baseline.

Each server runs in its own process on 127.0.0.1 free ports (announced through a port file),
so it gets the machine's cores the way a deployment would; ``ServerProcess`` stops it with
SIGTERM (then SIGKILL if it does not drain) and reports its CPU time, read with psutil.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = ["BatchingConfig", "ServerProcess", "serving_command", "naive_command",
           "scrape_metrics", "metric_sum_count"]

HERE = Path(__file__).resolve().parent
SERVE = "from serving.cli import main; main()"


@dataclass(frozen=True)
class BatchingConfig:
    """The ``BatchingParameters`` text proto the benchmark serves with."""

    max_batch_size: int = 16
    batch_timeout_micros: int = 0
    num_batch_threads: int = 2
    max_enqueued_batches: int = 1000

    def text(self) -> str:
        """The file content (TF Serving's ``batching_parameters_file`` format)."""
        return (f"max_batch_size {{ value: {self.max_batch_size} }}\n"
                f"batch_timeout_micros {{ value: {self.batch_timeout_micros} }}\n"
                f"num_batch_threads {{ value: {self.num_batch_threads} }}\n"
                f"max_enqueued_batches {{ value: {self.max_enqueued_batches} }}\n")


def serving_command(base_path: Path, platform: str, workdir: Path,
                    batching: BatchingConfig | None) -> list[str]:
    """``serving serve`` flags for one model named ``m`` with Prometheus metrics on."""
    monitoring = workdir / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true path: "/monitoring/metrics" }\n')
    args = ["serve", "--port=0", "--rest_api_port=auto", "--model_name=m",
            f"--model_base_path={base_path}", f"--model_platform={platform}",
            f"--monitoring_config_file={monitoring}"]
    if batching is not None:
        path = workdir / "batching.config"
        path.write_text(batching.text())
        args += ["--enable_batching", f"--batching_parameters_file={path}"]
    return args


def naive_command(version_dir: Path) -> list[str]:
    """Arguments of ``bench/naive_server.py`` (the port file is added by ``ServerProcess``)."""
    return [str(version_dir)]


class ServerProcess:
    """Start a server subprocess, wait for its port file, stop it (context manager)."""

    def __init__(self, kind: str, args: list[str], log_path: Path,
                 start_timeout: float = 240.0, cwd: Path | None = None) -> None:
        """``cwd``: run from there (a ``serving`` server then imports that checkout's code:
        ``python -c`` puts the working directory first on ``sys.path``)."""
        self.kind, self.args, self.log_path = kind, args, log_path
        self.start_timeout = start_timeout
        self.cwd = cwd
        self.ports: dict[str, int] = {}
        self.proc: subprocess.Popen | None = None
        self.startup_s = 0.0

    @property
    def display(self) -> str:
        """The command as a reader would type it (``serving serve ...``)."""
        head = "serving" if self.kind == "serving" else f"python bench/{self._script}"
        return f"{head} {shlex.join(self.args)}"

    def __enter__(self) -> ServerProcess:
        port_file = Path(tempfile.mkdtemp(prefix="serving-bench-")) / "ports.json"
        if self.kind == "serving":
            cmd = [sys.executable, "-c", SERVE, *self.args, f"--port_file={port_file}"]
        else:
            cmd = [sys.executable, str(HERE / self._script), *self.args, str(port_file)]
        started = time.perf_counter()
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd)
        log.close()
        while not port_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited with {self.proc.returncode} "
                                   f"before listening; see {self.log_path}")
            if time.perf_counter() - started > self.start_timeout:
                self.__exit__(None, None, None)
                raise RuntimeError(f"{self.kind} server did not listen within "
                                   f"{self.start_timeout:.0f}s; see {self.log_path}")
            time.sleep(0.1)
        self.ports = json.loads(port_file.read_text())
        self.startup_s = time.perf_counter() - started
        return self

    @property
    def _script(self) -> str:
        """The bench script of a non-``serving`` kind (``naive`` or ``echo``)."""
        return "echo_server.py" if self.kind == "echo" else "naive_server.py"

    def __exit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    @property
    def rest_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.ports['rest']}"

    @property
    def grpc_target(self) -> str:
        """``127.0.0.1:PORT`` (``serving serve`` only)."""
        return f"127.0.0.1:{self.ports['grpc']}"

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far."""
        assert self.proc is not None
        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system


def scrape_metrics(rest_url: str) -> str:
    """The Prometheus page of a ``serving serve`` started by ``serving_command``."""
    with urllib.request.urlopen(rest_url + "/monitoring/metrics", timeout=10) as answer:
        return answer.read().decode()


def metric_sum_count(page: str, name: str, **labels: str) -> tuple[float, float]:
    """(sum, count) of a histogram over every series whose labels include ``labels``."""
    total = [0.0, 0.0]
    for i, suffix in enumerate(("_sum", "_count")):
        pattern = re.compile(re.escape(name + suffix) + r"\{([^}]*)\} (\S+)")
        for found in pattern.finditer(page):
            have = dict(re.findall(r'(\w+)="([^"]*)"', found.group(1)))
            if all(have.get(k) == v for k, v in labels.items()):
                total[i] += float(found.group(2))
    return total[0], total[1]
