"""``serving serve`` as a subprocess: batching merges requests (seen in the metrics page), and
SIGTERM stops accepting, finishes in-flight requests and exits 0."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.serving.conftest import RestClient


def wait_for_ports(port_file: Path, process: subprocess.Popen, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_file.exists():
            return json.loads(port_file.read_text())
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {process.stderr.read()}")
        time.sleep(0.2)
    raise AssertionError("server did not start")


@pytest.fixture
def batching_server(half_plus_two_base, monitoring_config, tmp_path):
    batching = tmp_path / "batching.config"
    batching.write_text(
        "max_batch_size { value: 16 } batch_timeout_micros { value: 1500000 } "
        "num_batch_threads { value: 1 }\n"
    )
    port_file = tmp_path / "ports.json"
    code = "import sys; from serving.cli import main; sys.argv[0] = 'serving'; main()"
    process = subprocess.Popen(
        [
            sys.executable, "-c", code, "serve", "--port=0", "--rest_api_port=auto",
            "--model_name=hp", f"--model_base_path={half_plus_two_base}",
            "--enable_batching", f"--batching_parameters_file={batching}",
            f"--monitoring_config_file={monitoring_config}", f"--port_file={port_file}",
            "--file_system_poll_wait_seconds=0",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, wait_for_ports(port_file, process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_batching_merges_and_sigterm_drains_in_flight_requests(batching_server):
    process, ports = batching_server
    replies: list = [None] * 6

    def call(i: int) -> None:
        client = RestClient(ports["rest"])
        replies[i] = client.post("/v1/models/hp:predict", f'{{"instances": [{i}.0]}}')
        client.close()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(0.7)  # all six wait in the open batch (1.5 s timeout) ...
    process.send_signal(signal.SIGTERM)  # ... when the server is told to stop
    for thread in threads:
        thread.join(60)
    assert [r.status for r in replies] == [200] * 6
    assert [r.json()["predictions"] for r in replies] == [[0.5 * i + 3.0] for i in range(6)]
    assert process.wait(60) == 0
    with pytest.raises(ConnectionError):
        RestClient(ports["rest"]).get("/v1/models/hp")


def test_batching_is_observable_in_the_metrics_page(batching_server):
    _, ports = batching_server
    threads = [
        threading.Thread(
            target=lambda: RestClient(ports["rest"]).post(
                "/v1/models/hp:predict", '{"instances": [1.0]}'
            )
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    page = RestClient(ports["rest"]).get("/monitoring/prometheus/metrics").body.decode()
    sizes = {
        line.split("{")[0].rsplit("_", 1)[-1]: float(line.rsplit(" ", 1)[1])
        for line in page.splitlines()
        if line.startswith(":tensorflow:serving:batching:processed_batch_size_")
        and "_bucket" not in line
    }
    assert sizes["sum"] == 4 and sizes["count"] < 4
    assert ":tensorflow:serving:batching_session:wrapped_run_count 4" in page
