"""Each implemented TF Serving flag changes what a real in-process server does.

The servers here run the real app (manager, core, REST, gRPC) over a numpy backend that can hold
its calls at a gate, so concurrency limits and health transitions are observable without
TensorFlow sessions. ``--saved_model_tags`` and ``--prefer_tflite_model`` use real models.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest

from serving.app import BackgroundServer
from serving.backends import BACKENDS
from serving.cpu_threads import available_cpus
from serving.server_options import parse_flags
from tests.serving.conftest import FakeBackend, RestClient


def wait_for(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class GatedBackend(FakeBackend):
    """FakeBackend whose calls wait at a class-wide gate; counts calls inside ``predict``."""

    gate = threading.Event()
    lock = threading.Lock()
    inside = 0
    entered = 0
    peak = 0
    loads: list[Path] = []

    def load(self, version_dir) -> None:
        type(self).loads.append(Path(version_dir))

    def unload(self) -> None:
        pass

    def predict(self, signature_name, inputs, output_filter=()):
        cls = type(self)
        with cls.lock:
            cls.inside += 1
            cls.entered += 1
            cls.peak = max(cls.peak, cls.inside)
        try:
            assert cls.gate.wait(20), "gate never opened"
            return super().predict(signature_name, inputs, output_filter)
        finally:
            with cls.lock:
                cls.inside -= 1


@pytest.fixture
def gated(monkeypatch):
    monkeypatch.setitem(BACKENDS, "tensorflow", GatedBackend)
    GatedBackend.gate.clear()
    GatedBackend.inside = GatedBackend.entered = GatedBackend.peak = 0
    GatedBackend.loads = []
    yield GatedBackend
    GatedBackend.gate.set()


def start_server(base: Path, *flags: str) -> BackgroundServer:
    options = parse_flags(
        ["--port=0", "--rest_api_port=auto", "--model_name=m", f"--model_base_path={base}",
         "--file_system_poll_wait_seconds=0", "--drain_timeout_seconds=5", *flags]
    )
    server = BackgroundServer(options)
    server.start()
    return server


@pytest.fixture
def base(tmp_path) -> Path:
    (tmp_path / "m" / "1").mkdir(parents=True)
    return tmp_path / "m"


def grpc_predict(port: int, value: float = 1.0):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "m"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([value], np.float32)))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return stub.Predict(request, timeout=30)


def rest_predict(port: int) -> int:
    client = RestClient(port)
    try:
        return client.post("/v1/models/m:predict", b'{"instances": [1.0]}').status
    finally:
        client.close()


def _held_calls(gated, server, call, port_name: str) -> int:
    """Start two calls; return how many reached the backend while the gate was shut."""
    port = server.ports[port_name]
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(call, port) for _ in range(2)]
        wait_for(lambda: gated.entered >= 1, "the first call to reach the backend")
        time.sleep(0.5)  # room for a second call to get in, if it may
        held = gated.entered
        gated.gate.set()
        for future in futures:
            future.result(30)
    return held


@pytest.mark.parametrize(("transport", "flag"), [("grpc", "--grpc_max_threads"),
                                                 ("rest", "--rest_api_num_threads")])
def test_thread_flags_cap_calls_handled_at_once(gated, base, transport, flag):
    call = grpc_predict if transport == "grpc" else rest_predict
    server = start_server(base, f"{flag}=1")
    try:
        assert _held_calls(gated, server, call, transport) == 1
        assert gated.peak == 1 and gated.entered == 2
    finally:
        server.stop()


@pytest.mark.skipif(available_cpus() < 2, reason="the inference pool runs one call per core")
@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_without_thread_flags_calls_run_together(gated, base, transport):
    call = grpc_predict if transport == "grpc" else rest_predict
    server = start_server(base)
    try:
        port = server.ports[transport]
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(call, port) for _ in range(2)]
            wait_for(lambda: gated.entered == 2, "both calls to reach the backend")
            gated.gate.set()
            for future in futures:
                future.result(30)
        assert gated.peak == 2
    finally:
        server.stop()


def health_stub(port: int):
    from grpc_health.v1 import health_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    return channel, health_pb2_grpc.HealthStub(channel)


def test_health_service_follows_model_availability_and_draining(gated, base, tmp_path):
    from grpc_health.v1 import health_pb2

    serving, not_serving = (health_pb2.HealthCheckResponse.SERVING,
                            health_pb2.HealthCheckResponse.NOT_SERVING)
    gated.gate.set()
    server = start_server(base, "--enable_grpc_healthcheck_service")
    channel, stub = health_stub(server.ports["grpc"])
    try:
        for service in ("", "tensorflow.serving.PredictionService",
                        "tensorflow.serving.ModelService"):
            request = health_pb2.HealthCheckRequest(service=service)
            assert stub.Check(request, timeout=10).status == serving
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
        assert next(watch).status == serving
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        assert next(watch).status == not_serving  # draining is announced before the end
        stopper.join(30)
    finally:
        channel.close()
        if server.loop.is_running():
            server.stop()


def test_health_is_not_serving_without_an_available_version(gated, tmp_path):
    from grpc_health.v1 import health_pb2

    empty = tmp_path / "empty"
    empty.mkdir()
    server = start_server(empty, "--enable_grpc_healthcheck_service")
    channel, stub = health_stub(server.ports["grpc"])
    try:
        reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        channel.close()
        server.stop()


def test_health_service_is_off_by_default(gated, base):
    from grpc_health.v1 import health_pb2

    server = start_server(base)
    channel, stub = health_stub(server.ports["grpc"])
    try:
        with pytest.raises(grpc.RpcError) as err:
            stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        channel.close()
        server.stop()


def test_unsupported_flags_are_named_in_one_warning_line(gated, base, caplog):
    caplog.set_level(logging.WARNING, logger="serving.app")
    server = start_server(base, "--enable_profiler=false", "--per_process_gpu_memory_fraction=0.4")
    server.stop()
    lines = [r.getMessage() for r in caplog.records if "without effect" in r.getMessage()]
    assert lines == [
        "flags accepted for TF Serving compatibility but without effect here: "
        "--per_process_gpu_memory_fraction (no GPU support), --enable_profiler (no profiler "
        "service)"
    ]


def test_no_warning_line_without_unsupported_flags(gated, base, caplog):
    caplog.set_level(logging.WARNING, logger="serving.app")
    server = start_server(base)
    server.stop()
    assert not [r for r in caplog.records if "without effect" in r.getMessage()]


def test_warmup_iterations_flag_reaches_the_replay(gated, base, monkeypatch):
    import serving.manager

    seen: list[int] = []
    monkeypatch.setattr(serving.manager, "run_warmup",
                        lambda backend, path, iterations=1: seen.append(iterations))
    start_server(base, "--num_request_iterations_for_warmup=3").stop()
    assert seen == [3]


def test_load_retry_flags_retry_a_failing_load(gated, base, monkeypatch):
    attempts: list[Path] = []

    def flaky_load(self, version_dir):
        attempts.append(Path(version_dir))
        if len(attempts) < 3:
            raise OSError("filesystem not ready")

    monkeypatch.setattr(GatedBackend, "load", flaky_load)
    gated.gate.set()
    server = start_server(base, "--max_num_load_retries=2", "--load_retry_interval_micros=1000")
    try:
        assert len(attempts) == 3
        assert rest_predict(server.ports["rest"]) == 200
    finally:
        server.stop()
