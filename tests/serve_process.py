"""``serving serve`` as a subprocess for tests: started on free loopback ports, stopped after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def serving_process(root: Path, flags: Sequence[str],
                    start_timeout_s: float = 120.0) -> Iterator[tuple[str, str]]:
    """Run ``serving serve FLAGS --port=0 --rest_api_port=auto`` (log in ``root/server.log``);
    yields ``(rest_url, grpc_target)`` once it listens, fails the test if it never does."""
    port_file = root / "ports.json"
    log_path = root / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from serving.cli import main; main()", "serve", *flags,
             "--port=0", "--rest_api_port=auto", f"--port_file={port_file}"],
            stdout=log, stderr=subprocess.STDOUT,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        try:
            deadline = time.monotonic() + start_timeout_s
            while not port_file.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.5)
            if not port_file.exists():
                pytest.fail(f"server did not start: {log_path.read_text()[-2000:]}")
            ports = json.loads(port_file.read_text())
            yield f"http://127.0.0.1:{ports['rest']}", f"127.0.0.1:{ports['grpc']}"
        finally:
            proc.terminate()
            proc.wait(30)
