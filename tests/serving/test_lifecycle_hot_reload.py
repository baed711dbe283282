"""Hot add / corrupt / fix / remove of versions while threads hammer resolve() + predict()."""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np

from serving.errors import NotFound
from serving.manager import ModelManager
from serving.model_config import ModelConfig
from serving.servables import State
from tests.serving.contract_models import install_version
from tests.serving.half_plus_two import write_half_plus

X = np.array([2.0], np.float32)


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except NotFound:  # not seen by the poller yet
            pass
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_hot_changes_under_load_never_fail_a_request(tmp_path):
    templates = {v: write_half_plus(tmp_path / "templates", v, float(v)) for v in (1, 2, 3)}
    base = tmp_path / "hp"
    install_version(templates[1], base, 1)
    manager = ModelManager([ModelConfig("hp", base)], file_system_poll_wait_seconds=0.05)
    manager.start()
    stop = threading.Event()
    failures: list[str] = []
    answered: dict[int, int] = {}

    def hammer() -> None:
        while not stop.is_set():
            try:
                served = manager.resolve("hp")
                y = float(served.backend.predict("serving_default", {"x": X})["y"][0])
                if y != 1.0 + served.version:  # version v computes 0.5 * x + v
                    failures.append(f"version {served.version} answered {y}")
                answered[served.version] = answered.get(served.version, 0) + 1
            except Exception as exc:  # every failure is recorded, none may happen
                failures.append(repr(exc))

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        install_version(templates[2], base, 2)  # add
        wait_for(lambda: manager.resolve("hp").version == 2)

        broken = base / "3"  # a half-copied version: fails, never replaces version 2
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes((templates[3] / "saved_model.pb").read_bytes()[:50])
        wait_for(lambda: manager.status("hp", 3)[0].state == State.END)
        assert manager.status("hp", 3)[0].error_message
        assert manager.resolve("hp").version == 2

        shutil.rmtree(broken)  # the copy completes: retried because it changed on disk
        shutil.copytree(templates[3], broken)
        wait_for(lambda: manager.resolve("hp").version == 3)

        shutil.rmtree(base / "3")  # removed: version 2 is aspired again and replaces it
        wait_for(lambda: manager.resolve("hp").version == 2)
        wait_for(lambda: manager.status("hp", 3)[0].state == State.END)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        manager.stop()
    assert not failures, failures[:5]
    assert set(answered) == {1, 2, 3}, answered
    assert sum(answered.values()) > 50
