"""Serving under load (issue 7): ``serving serve`` as a subprocess polls its base paths and its
model config file while REST and gRPC clients predict continuously on keep-alive connections.

During the run the test publishes a version, drops in a corrupt one, rewrites the config file
(adds a second model, moves a version label, removes the second model) and removes a version.
No request to the model that stays may fail, and every answer must come from a version that
was AVAILABLE (for label streams: labelled) at some instant while the request was in flight.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.serving.reliability_loader import Loader, Stream, Timeline
from tests.serving.reliability_server import (
    grpc_stubs,
    make_templates,
    predict_request,
    publish,
    publish_corrupt,
    start_server,
    unpublish,
    write_atomically,
)

pytestmark = pytest.mark.reliability


def config_text(hp_base: Path, stable: int, other_base: Path | None = None) -> str:
    """Model ``hp`` (all versions, label ``stable``) and optionally model ``other``."""
    other = f'  config {{ name: "other" base_path: "{other_base}" }}\n' if other_base else ""
    return (
        "model_config_list {\n"
        f'  config {{ name: "hp" base_path: "{hp_base}" model_platform: "tensorflow"\n'
        "    model_version_policy { all {} }\n"
        f'    version_labels {{ key: "stable" value: {stable} }} }}\n'
        f"{other}}}\n"
    )


def status(server, name: str, version: int | None = None) -> dict[int, dict]:
    """``GET /v1/models/NAME``: version -> {"state", "status"} ({} if unknown)."""
    path = f"/v1/models/{name}" + (f"/versions/{version}" if version else "")
    try:
        with urllib.request.urlopen(server.url(path), timeout=30) as reply:
            doc = json.loads(reply.read())
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return {}
        raise
    return {int(s["version"]): s for s in doc["model_version_status"]}


def wait_for(predicate, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not reached in {timeout} s: {what}")


def state(server, name: str, version: int) -> str:
    return status(server, name, version).get(version, {}).get("state", "")


def test_hot_changes_under_rest_and_grpc_load(tmp_path):
    templates = make_templates(tmp_path / "templates", (1, 2))
    hp_base, other_base = tmp_path / "models" / "hp", tmp_path / "models" / "other"
    publish(templates[1], hp_base, 1)
    publish(templates[1], other_base, 1)
    config = tmp_path / "models.config"
    config.write_text(config_text(hp_base, stable=1))
    server = start_server(
        [
            "--port=0", "--rest_api_port=auto", f"--model_config_file={config}",
            "--model_config_file_poll_wait_seconds=1", "--file_system_poll_wait_seconds=1",
            "--allow_version_labels_for_unavailable_models", "--drain_timeout_seconds=10",
        ],
        tmp_path / "server",
    )
    streams = [
        Stream("rest-latest", "rest"), Stream("grpc-latest", "grpc"),
        Stream("rest-stable", "rest", label="stable"),
        Stream("grpc-stable", "grpc", label="stable"),
    ]
    latest, stable = ("rest-latest", "grpc-latest"), ("rest-stable", "grpc-stable")
    timeline = Timeline({**{s: {1} for s in latest}, **{s: {1} for s in stable}})
    loader = Loader(server.ports, streams).start()
    _, predict, _ = grpc_stubs(server.ports["grpc"])

    def change(action, done, what: str, sets: dict[str, set[int]]) -> None:
        """Allow old and new sets while ``action`` takes effect, then only the new ones."""
        now = timeline.current()
        timeline.mark({k: now[k] | v for k, v in sets.items()})
        action()
        wait_for(done, what)
        timeline.mark(sets)

    try:
        time.sleep(2.0)  # load on the initial state
        change(lambda: publish(templates[2], hp_base, 2),
               lambda: state(server, "hp", 2) == "AVAILABLE", "v2 AVAILABLE",
               dict.fromkeys(latest, {2}))
        time.sleep(1.0)

        publish_corrupt(hp_base, 3)  # must never answer: the allowed sets stay as they are
        wait_for(lambda: state(server, "hp", 3) == "END", "corrupt v3 END")
        time.sleep(2.5)  # a few more polls: the failed version is not retried or served

        write_atomically(config, config_text(hp_base, stable=1, other_base=other_base))
        wait_for(lambda: state(server, "other", 1) == "AVAILABLE", "model other AVAILABLE")
        answer = predict.Predict(predict_request("other"), timeout=30)
        assert answer.model_spec.name == "other" and answer.model_spec.version.value == 1

        def label_moved() -> bool:
            return predict.Predict(predict_request("hp", label="stable"), timeout=30) \
                .model_spec.version.value == 2

        change(lambda: write_atomically(config, config_text(hp_base, 2, other_base)),
               label_moved, "label stable -> 2", dict.fromkeys(stable, {2}))
        time.sleep(1.0)

        write_atomically(config, config_text(hp_base, stable=2))
        wait_for(lambda: state(server, "other", 1) == "END", "model other removed")

        unpublish(hp_base, 1)  # nobody is routed to v1 any more: it unloads under load
        wait_for(lambda: state(server, "hp", 1) == "END", "v1 unloaded")
        time.sleep(1.5)
    finally:
        loader.stop()
        final = status(server, "hp")
        exit_code = server.terminate()
        server.kill()

    failures = [s for s in loader.samples if s.error]
    assert not failures, [(s.stream, s.error) for s in failures[:5]]
    assert not timeline.violations(loader.samples), timeline.violations(loader.samples)[:5]
    for stream in streams:
        mine = [s.version for s in loader.samples if s.stream == stream.name]
        assert set(mine) == {1, 2} and len(mine) > 50, (stream.name, len(mine), set(mine))
    assert [final[v]["state"] for v in (3, 2, 1)] == ["END", "AVAILABLE", "END"]
    assert final[3]["status"]["error_code"] != "OK" and final[3]["status"]["error_message"]
    assert final[1]["status"]["error_code"] == "OK"
    assert exit_code == 0, server.log()[-2000:]
