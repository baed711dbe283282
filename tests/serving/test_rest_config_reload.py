"""The polled ``--model_config_file`` adds and removes models without a restart."""

from __future__ import annotations

import time

from tests.serving.conftest import RestClient


def config_text(base, names) -> str:
    entries = "".join(f'config {{ name: "{n}" base_path: "{base}" }}\n' for n in names)
    return f"model_config_list {{\n{entries}}}\n"


def wait_for(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_polled_config_file_adds_and_removes_models(half_plus_two_base, tmp_path):
    from serving.app import BackgroundServer
    from serving.server_options import parse_flags

    config = tmp_path / "models.config"
    config.write_text(config_text(half_plus_two_base, ["a"]))
    server = BackgroundServer(
        parse_flags(["--port=0", "--rest_api_port=auto", f"--model_config_file={config}",
                     "--model_config_file_poll_wait_seconds=1",
                     "--file_system_poll_wait_seconds=0", "--drain_timeout_seconds=5"])
    )
    ports = server.start()
    client = RestClient(ports["rest"])
    try:
        assert client.post("/v1/models/a:predict", '{"instances": [2.0]}').status == 200
        assert client.get("/v1/models/b").status == 404
        staged = tmp_path / "models.config.new"
        staged.write_text(config_text(half_plus_two_base, ["b"]))
        staged.replace(config)
        assert wait_for(lambda: b'"AVAILABLE"' in client.get("/v1/models/b").body)
        reply = client.post("/v1/models/b:predict", '{"instances": [2.0]}')
        assert reply.json() == {"predictions": [4.0]}
        assert wait_for(
            lambda: client.post("/v1/models/a:predict", '{"instances": [2.0]}').status == 404
        )
    finally:
        client.close()
        server.stop()
