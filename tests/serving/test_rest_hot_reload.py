"""Over the wire: add, corrupt and remove versions while clients keep predicting; no request
may fail, and answers move to the new latest version once it is loaded."""

from __future__ import annotations

import shutil
import threading
import time

from tests.serving.conftest import RestClient
from tests.serving.contract_models import install_version
from tests.serving.half_plus_two import write_half_plus


def wait_for(predicate, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_hot_version_changes_fail_no_request(tmp_path):
    from serving.app import BackgroundServer
    from serving.server_options import parse_flags

    templates = {offset: write_half_plus(tmp_path / "templates", offset, float(offset))
                 for offset in (2, 3)}
    base = tmp_path / "hp"
    install_version(templates[2], base, 1)
    server = BackgroundServer(
        parse_flags(["--port=0", "--rest_api_port=auto", "--model_name=hp",
                     f"--model_base_path={base}", "--file_system_poll_wait_seconds=1",
                     "--drain_timeout_seconds=5"])
    )
    ports = server.start()
    stop = threading.Event()
    seen: list[tuple[int, bytes]] = []

    def hammer() -> None:
        client = RestClient(ports["rest"])
        while not stop.is_set():
            reply = client.post("/v1/models/hp:predict", '{"instances": [2.0]}')
            seen.append((reply.status, reply.body))
        client.close()

    def latest_answer() -> bytes:
        return seen[-1][1] if seen else b""

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for thread in threads:
        thread.start()
    status = RestClient(ports["rest"])
    try:
        wait_for(lambda: b"[3.0\n" in latest_answer())
        install_version(templates[3], base, 2)  # new version: answers move to 0.5x + 3
        wait_for(lambda: b"[4.0\n" in latest_answer())
        broken = base / "3"
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes(b"\x00half-copied")
        wait_for(lambda: b'"END"' in status.get("/v1/models/hp/versions/3").body)
        time.sleep(1.0)
        assert b"[4.0\n" in latest_answer()  # the broken version never replaced version 2
        shutil.rmtree(broken)
        shutil.rmtree(base / "2")  # back to version 1
        wait_for(lambda: b"[3.0\n" in latest_answer())
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        status.close()
        server.stop()
    failures = [(code, body) for code, body in seen if code != 200]
    assert not failures, failures[:3]
    assert len(seen) > 20
