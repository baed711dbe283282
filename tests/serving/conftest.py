"""Shared fixtures for the serving wire tests: half_plus_two models and a running server."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
def server(models_config: Path, monitoring_config: Path) -> Iterator[dict[str, int]]:
    """One in-process server (real manager + SavedModel backend) for the wire tests."""
    from serving.app import BackgroundServer
    from serving.server_options import parse_flags

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
        ]
    )
    background = BackgroundServer(options)
    ports = background.start()
    yield ports
    background.stop()


@pytest.fixture
def rest(server) -> Iterator[RestClient]:
    client = RestClient(server["rest"])
    yield client
    client.close()
