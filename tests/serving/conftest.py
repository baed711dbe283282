"""Shared fixtures for the serving wire tests: half_plus_two models and a running server."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.serving.half_plus_two import write_half_plus


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self):
        return json.loads(self.body)


class RestClient:
    """A keep-alive HTTP/1.1 client on one loopback connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> Reply:
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
        except (ConnectionError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
        data = response.read()
        return Reply(response.status, data, {k.lower(): v for k, v in response.getheaders()})

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, body: bytes | str, headers: dict | None = None) -> Reply:
        return self.request("POST", path, body.encode() if isinstance(body, str) else body, headers)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="session")
def half_plus_two_base(tmp_path_factory) -> Path:
    """``hp/1`` computes 0.5x + 2 and ``hp/2`` computes 0.5x + 3."""
    base = tmp_path_factory.mktemp("models") / "hp"
    write_half_plus(base, 1, 2.0)
    write_half_plus(base, 2, 3.0)
    return base


@pytest.fixture(scope="session")
def models_config(half_plus_two_base: Path, tmp_path_factory) -> Path:
    """A model_config_list serving both versions, with labels stable=1 and canary=2."""
    path = tmp_path_factory.mktemp("config") / "models.config"
    path.write_text(
        "model_config_list {\n"
        "  config {\n"
        '    name: "hp"\n'
        f'    base_path: "{half_plus_two_base}"\n'
        '    model_platform: "tensorflow"\n'
        "    model_version_policy { all {} }\n"
        '    version_labels { key: "stable" value: 1 }\n'
        '    version_labels { key: "canary" value: 2 }\n'
        "  }\n"
        "  config {\n"
        '    name: "latest_only"\n'
        f'    base_path: "{half_plus_two_base}"\n'
        "  }\n"
        "}\n"
    )
    return path


@pytest.fixture(scope="session")
def monitoring_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("monitoring") / "monitoring.config"
    path.write_text('prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }\n')
    return path


@pytest.fixture(scope="session")
def server(models_config: Path, monitoring_config: Path, tmp_path_factory) -> Iterator[dict]:
    """One in-process server (real manager + SavedModel backend) for the wire tests:
    ``{"grpc": port, "rest": port, "unix": gRPC socket path}``."""
    from serving.app import BackgroundServer
    from serving.server_options import parse_flags

    socket_path = str(tmp_path_factory.mktemp("sock") / "grpc.sock")
    options = parse_flags(
        [
            "--port=0",
            "--rest_api_port=auto",
            f"--model_config_file={models_config}",
            f"--monitoring_config_file={monitoring_config}",
            "--file_system_poll_wait_seconds=0",
            "--max_request_bytes=1000000",
            "--drain_timeout_seconds=5",
            "--allow_version_labels_for_unavailable_models",
            f"--grpc_socket_path={socket_path}",
        ]
    )
    background = BackgroundServer(options)
    ports = background.start()
    yield {**ports, "unix": socket_path}
    background.stop()


@pytest.fixture
def rest(server) -> Iterator[RestClient]:
    client = RestClient(server["rest"])
    yield client
    client.close()


class FakeBackend:
    """0.5 * x + offset in numpy (no TensorFlow session), recording every batch it runs."""

    platform = "tensorflow"

    def __init__(self, offset: float = 2.0, delay: float = 0.0) -> None:
        self.offset, self.delay = offset, delay
        self.batches: list[int] = []

    def signature_defs(self):
        from tensorflow_serving.apis import get_model_metadata_pb2

        defs = get_model_metadata_pb2.SignatureDefMap()
        signature = defs.signature_def["serving_default"]
        signature.method_name = "tensorflow/serving/predict"
        signature.inputs["x"].name, signature.inputs["x"].dtype = "x:0", 1
        signature.inputs["x"].tensor_shape.unknown_rank = True
        signature.outputs["y"].name, signature.outputs["y"].dtype = "y:0", 1
        signature.outputs["y"].tensor_shape.unknown_rank = True
        return defs

    def predict(self, signature_name, inputs, output_filter=()):
        import time

        from serving.errors import FailedPrecondition, InvalidArgument

        if (signature_name or "serving_default") != "serving_default":
            raise FailedPrecondition(f'Serving signature key "{signature_name}" not found.')
        if set(inputs) != {"x"}:
            raise InvalidArgument("input size does not match signature")
        x = inputs["x"]
        self.batches.append(int(x.shape[0]) if x.ndim else 0)
        if self.delay:
            time.sleep(self.delay)
        return {"y": (0.5 * x + self.offset).astype(np.float32)}


class FakeManager:
    """Serves one FakeBackend as model ``m`` version 1 (the ModelManagerAPI subset)."""

    def __init__(self, backend: FakeBackend) -> None:
        from serving.servables import ServedVersion

        self.served = ServedVersion("m", 1, "tensorflow", backend)

    def resolve(self, name, version=None, label=None):
        from serving.errors import NotFound

        if name != "m" or version not in (None, 1) or label is not None:
            raise NotFound(f"Servable not found for request: Latest({name})")
        return self.served

    def status(self, name, version=None):
        from serving.servables import State, VersionStatus

        return [VersionStatus(1, State.AVAILABLE)]

    def reload_config(self, configs):
        raise NotImplementedError


class LoopThread:
    """An asyncio loop on a daemon thread; ``run(coro)`` waits for the result."""

    def __init__(self) -> None:
        import asyncio
        import threading

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 60.0):
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def fake_rest():
    """A REST server over a slow FakeBackend (0.3 s per call), 1 s timeout, CORS on."""
    from serving.core import ServingCore
    from serving.http_server import HttpServer
    from serving.rest import RestApi, RestOptions

    backend = FakeBackend(delay=0.3)
    core = ServingCore(FakeManager(backend))
    core.signature_defs(core.resolve("m"))  # imports the protos (TensorFlow) before serving
    loop = LoopThread()
    api = RestApi(core, RestOptions(enable_cors=True, timeout_ms=1000))
    http = HttpServer(api, max_request_bytes=10_000)
    port = loop.run(http.start("127.0.0.1", 0))
    yield {"port": port, "backend": backend, "http": http, "loop": loop}
    loop.run(http.drain(5))
    loop.close()
    core.close()


@pytest.fixture(autouse=True)
def _no_unhandled_task_exceptions():
    """Fail any serving test during which a server task raised an unhandled exception
    (``serving.task_errors`` logs and counts each one)."""
    from serving.metrics import UNHANDLED_EXCEPTIONS

    before = UNHANDLED_EXCEPTIONS.total()
    yield
    after = UNHANDLED_EXCEPTIONS.total()
    assert after == before, f"{after - before} unhandled exception(s) in server tasks (see log)"
