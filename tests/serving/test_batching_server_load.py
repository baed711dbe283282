"""``serving serve --enable_batching`` (a subprocess on free loopback ports) under concurrent
REST and gRPC load: every request gets 200/OK with its own answer, none hangs, requests are
merged, and the server log holds no task exception (issue 13's dispatcher race)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.serving.conftest import RestClient
from tests.serving.test_drain import wait_for_ports

BATCHING = (
    "max_batch_size { value: 16 } batch_timeout_micros { value: 2000 } "
    "num_batch_threads { value: 2 } max_enqueued_batches { value: 100 }\n"
)


@pytest.fixture
def server(half_plus_two_base, monitoring_config, tmp_path):
    batching = tmp_path / "batching.config"
    batching.write_text(BATCHING)
    port_file = tmp_path / "ports.json"
    log_path = tmp_path / "server.log"
    code = "import sys; from serving.cli import main; sys.argv[0] = 'serving'; main()"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-c", code, "serve", "--port=0", "--rest_api_port=auto",
                "--model_name=hp", f"--model_base_path={half_plus_two_base}",
                "--enable_batching", f"--batching_parameters_file={batching}",
                f"--monitoring_config_file={monitoring_config}", f"--port_file={port_file}",
                "--file_system_poll_wait_seconds=0",
            ],
            stderr=log,
            text=True,
        )
    try:
        yield wait_for_ports(port_file, process), log_path
    finally:
        process.terminate()
        process.wait(60)


def _rest_client(port: int, worker: int, count: int) -> list[str]:
    client, problems = RestClient(port), []
    for i in range(count):
        x = [float(worker * 1000 + i), float(i % 3)]
        reply = client.post("/v1/models/hp:predict", json.dumps({"instances": x}))
        want = [0.5 * v + 3.0 for v in x]  # hp/2, the latest version
        if reply.status != 200 or reply.json().get("predictions") != want:
            problems.append(f"REST {x}: {reply.status} {reply.body[:200]!r}")
    client.close()
    return problems


def _grpc_client(port: int, worker: int, count: int) -> list[str]:
    import grpc
    import numpy as np
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from serving.codecs.tensor_proto import from_numpy, to_numpy

    problems = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for i in range(count):
            x = np.array([worker * 1000.0 + i], np.float32)
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "hp"
            from_numpy(x, request.inputs["x"])
            try:
                response = stub.Predict(request, timeout=30)
            except grpc.RpcError as err:
                problems.append(f"gRPC {x}: {err.code()} {err.details()}")
                continue
            got = to_numpy(response.outputs["y"])
            if got.tolist() != (0.5 * x + 3.0).tolist():
                problems.append(f"gRPC {x}: {got}")
    return problems


def _load(ports: dict, per_client: int) -> list[str]:
    jobs = []
    with ThreadPoolExecutor(max_workers=16) as pool:
        for worker in range(8):
            jobs.append(pool.submit(_rest_client, ports["rest"], worker, per_client))
            jobs.append(pool.submit(_grpc_client, ports["grpc"], 100 + worker, per_client))
        return [p for job in jobs for p in job.result(timeout=300)]


def _check_log_and_metrics(ports: dict, log_path) -> None:
    page = RestClient(ports["rest"]).get("/monitoring/prometheus/metrics").body.decode()
    assert "unhandled_exception_count{" not in page, page
    batches = re.search(r'processed_batch_size_count\{[^}]*\} (\d+)', page)
    runs = re.search(r"wrapped_run_count (\d+)", page)
    assert batches and runs and int(batches.group(1)) < int(runs.group(1))  # merged
    log = log_path.read_text()
    for needle in ("Task exception", "Unhandled exception", "Traceback"):
        assert needle not in log, log[-3000:]


def test_rest_and_grpc_load_with_batching_all_answered(server):
    ports, log_path = server
    assert _load(ports, per_client=40) == []
    _check_log_and_metrics(ports, log_path)


@pytest.mark.reliability
def test_rest_and_grpc_load_with_batching_long(server):
    ports, log_path = server
    for _ in range(10):
        assert _load(ports, per_client=300) == []
    _check_log_and_metrics(ports, log_path)
