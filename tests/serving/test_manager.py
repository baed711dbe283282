"""Model manager: policies, resolution errors, labels, status, hot changes, reloads, warmup."""

from __future__ import annotations

import gc
import shutil
import threading
import time

import numpy as np
import pytest

from serving.backends import BACKENDS
from serving.backends.base import Backend
from serving.errors import Code, FailedPrecondition, InvalidArgument, NotFound
from serving.manager import ModelManager
from serving.model_config import ModelConfig, VersionPolicy
from serving.servables import State
from tests.serving.contract_models import install_version
from tests.serving.half_plus_two import write_half_plus

X = np.array([2.0], np.float32)


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    """SavedModels computing 0.5x + offset for offsets 1..3 (version N uses offset N)."""
    root = tmp_path_factory.mktemp("templates")
    return {offset: write_half_plus(root, offset, float(offset)) for offset in (1, 2, 3)}


@pytest.fixture
def base(tmp_path):
    return tmp_path / "hp"


def add(templates, base, version: int):
    return install_version(templates[version], base, version)


def corrupt(base, version: int):
    target = base / str(version)
    target.mkdir(parents=True)
    (target / "saved_model.pb").write_bytes(b"\x00half-copied")
    return target


def manager_for(base, name="hp", policy=VersionPolicy(), labels=None, **kwargs):
    config = ModelConfig(name, base, "tensorflow", policy, dict(labels or {}))
    kwargs.setdefault("file_system_poll_wait_seconds", 0)
    manager = ModelManager([config], **kwargs)
    manager.start()
    return manager


def states(manager, name="hp"):
    return [(s.version, s.state) for s in manager.status(name)]


def answer(served) -> float:
    return float(served.backend.predict("serving_default", {"x": X})["y"][0])


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except NotFound:  # the model has no versions yet
            pass
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_latest_policy_and_resolution_errors(templates, base):
    add(templates, base, 1)
    add(templates, base, 2)
    manager = manager_for(base)
    try:
        assert states(manager) == [(2, State.AVAILABLE)]
        served = manager.resolve("hp")
        assert (served.name, served.version, served.platform) == ("hp", 2, "tensorflow")
        assert answer(served) == 3.0
        assert manager.resolve("hp", version=2) is served
        with pytest.raises(NotFound, match=r"^Servable not found for request: Specific\(hp, 1\)$"):
            manager.resolve("hp", version=1)
        with pytest.raises(NotFound, match=r"^Servable not found for request: Latest\(nope\)$"):
            manager.resolve("nope")
        with pytest.raises(InvalidArgument, match="^Unrecognized servable version label: x$"):
            manager.resolve("hp", label="x")
        with pytest.raises(NotFound, match="^Could not find any versions of model nope$"):
            manager.status("nope")
        with pytest.raises(NotFound, match="^Could not find version 1 of model hp$"):
            manager.status("hp", 1)
        assert [s.version for s in manager.status("hp", 2)] == [2]
        del served  # a request that finished: stop() need not wait for it
    finally:
        manager.stop()
    assert states(manager) == [(2, State.END)]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (VersionPolicy.all(), [3, 2, 1]),
        (VersionPolicy.latest(2), [3, 2]),
        (VersionPolicy.specific([1, 3, 7]), [3, 1]),
    ],
)
def test_policies_and_status_order(templates, base, policy, expected):
    for version in (1, 2, 3):
        add(templates, base, version)
    manager = manager_for(base, policy=policy)
    try:
        assert states(manager) == [(v, State.AVAILABLE) for v in expected]
        for version in expected:
            assert answer(manager.resolve("hp", version=version)) == 1.0 + version
    finally:
        manager.stop()


def test_startup_labels_need_available_versions_like_tf_serving(templates, base):
    add(templates, base, 1)
    config = ModelConfig(
        "hp", base, version_policy=VersionPolicy.all(), version_labels={"stable": 1}
    )
    manager = ModelManager([config], file_system_poll_wait_seconds=0)
    with pytest.raises(FailedPrecondition) as err:
        manager.start()
    assert err.value.message == (
        "Request to assign label to version 1 of model hp, which is not currently available "
        "for inference"
    )


def test_labels_with_allow_flag_and_after_reload(templates, base):
    add(templates, base, 1)
    add(templates, base, 2)
    labels = {"stable": 1, "canary": 2, "future": 9}
    manager = manager_for(
        base,
        policy=VersionPolicy.all(),
        labels=labels,
        allow_version_labels_for_unavailable_models=True,
    )
    try:
        assert manager.resolve("hp", label="stable").version == 1
        assert manager.resolve("hp", label="canary").version == 2
        with pytest.raises(NotFound, match=r"Specific\(hp, 9\)"):
            manager.resolve("hp", label="future")
        assert len(manager.status("hp")) == 2  # status ignores labels
        swapped = ModelConfig(
            "hp", base, version_policy=VersionPolicy.all(), version_labels={"stable": 2}
        )
        manager.reload_config([swapped])  # version 2 is AVAILABLE: allowed without the flag too
        assert manager.resolve("hp", label="stable").version == 2
        with pytest.raises(InvalidArgument):
            manager.resolve("hp", label="canary")
    finally:
        manager.stop()


def test_corrupt_version_never_replaces_a_working_one_and_is_retried_when_fixed(templates, base):
    add(templates, base, 2)
    manager = manager_for(base)
    try:
        corrupt(base, 3)
        manager.poll_once()
        status = {s.version: s for s in manager.status("hp")}
        assert status[3].state == State.END and status[3].error_code == Code.DATA_LOSS
        assert "saved_model.pb" in status[3].error_message
        assert status[2].state == State.AVAILABLE and manager.resolve("hp").version == 2
        manager.poll_once()  # unchanged on disk: not retried
        assert manager.status("hp", 3)[0].state == State.END
        shutil.rmtree(base / "3")
        shutil.copytree(templates[3], base / "3")  # the copy "finishes" in place
        manager.poll_once()
        assert manager.resolve("hp").version == 3 and answer(manager.resolve("hp")) == 4.0
        wait_for(lambda: manager.status("hp", 2)[0].state == State.END)
    finally:
        manager.stop()


def test_only_serving_version_is_kept_while_its_successor_fails(templates, base):
    add(templates, base, 2)
    manager = manager_for(base)
    try:
        corrupt(base, 3)
        shutil.rmtree(base / "2")
        manager.poll_once()
        assert states(manager) == [(3, State.END), (2, State.AVAILABLE)]
        assert answer(manager.resolve("hp")) == 3.0
        shutil.rmtree(base / "3")  # nothing aspired any more: unload
        manager.poll_once()
        wait_for(lambda: states(manager) == [(3, State.END), (2, State.END)])
        with pytest.raises(NotFound):
            manager.resolve("hp")
    finally:
        manager.stop()


def test_unloading_waits_for_in_flight_requests(templates, base):
    add(templates, base, 1)
    add(templates, base, 2)
    manager = manager_for(base, policy=VersionPolicy.all())
    try:
        held = manager.resolve("hp", version=1)
        shutil.rmtree(base / "1")
        manager.poll_once()
        with pytest.raises(NotFound):
            manager.resolve("hp", version=1)
        assert manager.status("hp", 1)[0].state == State.UNLOADING
        assert answer(held) == 2.0  # the request still holding it completes
        del held
        gc.collect()
        wait_for(lambda: manager.status("hp", 1)[0].state == State.END)
    finally:
        manager.stop()


def test_unload_is_forced_after_the_grace_period(templates, base):
    add(templates, base, 1)
    manager = manager_for(base, unload_grace_seconds=0.2)
    held = manager.resolve("hp")
    manager.stop()
    assert states(manager) == [(1, State.END)]
    with pytest.raises(FailedPrecondition, match="unloaded"):
        answer(held)


def test_reload_config_adds_and_removes_models(templates, tmp_path):
    add(templates, tmp_path / "a", 1)
    add(templates, tmp_path / "b", 2)
    a = ModelConfig("a", tmp_path / "a")
    b = ModelConfig("b", tmp_path / "b")
    manager = ModelManager([a], file_system_poll_wait_seconds=0)
    manager.start()
    try:
        manager.reload_config([b])
        assert answer(manager.resolve("b")) == 3.0
        with pytest.raises(NotFound):
            manager.resolve("a")
        wait_for(lambda: states(manager, "a") == [(1, State.END)])
        assert manager.model_names() == ["b"]
        with pytest.raises(InvalidArgument) as err:
            manager.reload_config([ModelConfig("b", tmp_path / "b", platform="onnx")])
        assert err.value.message == (
            "Illegal to change a model's platform. For model b platform was tensorflow and "
            "new platform requested is onnx"
        )
        with pytest.raises(InvalidArgument, match="multiple times"):
            manager.reload_config([b, b])
        assert answer(manager.resolve("b")) == 3.0  # rejected reloads change nothing
    finally:
        manager.stop()


def test_polling_thread_picks_up_new_versions(templates, base):
    add(templates, base, 1)
    manager = manager_for(base, file_system_poll_wait_seconds=0.05)
    try:
        add(templates, base, 2)
        wait_for(lambda: manager.resolve("hp").version == 2)
        wait_for(lambda: states(manager) == [(2, State.AVAILABLE), (1, State.END)])
    finally:
        manager.stop()


def test_missing_base_path_is_logged_and_retried(templates, base):
    manager = manager_for(base)
    try:
        with pytest.raises(NotFound, match="Could not find any versions of model hp"):
            manager.status("hp")
        add(templates, base, 1)
        manager.poll_once()
        assert states(manager) == [(1, State.AVAILABLE)]
    finally:
        manager.stop()


class GatedBackend(Backend):
    """Loads only when the test opens the gate, so in-between states can be observed."""

    platform = "tensorflow"
    gate = threading.Event()

    def load(self, version_dir):
        assert self.gate.wait(10), "gate never opened"
        self.version = int(version_dir.name)

    def signature_defs(self):
        return None

    def predict(self, signature_name, inputs, output_filter=()):
        return {"version": np.array([self.version])}


def test_states_while_loading_and_new_loaded_before_old_unloaded(base, monkeypatch):
    monkeypatch.setitem(BACKENDS, "tensorflow", GatedBackend)
    GatedBackend.gate.clear()
    for version in (1, 2):
        (base / str(version)).mkdir(parents=True)
    manager = ModelManager(
        [ModelConfig("hp", base, version_policy=VersionPolicy.all())],
        file_system_poll_wait_seconds=0,
    )
    starter = threading.Thread(target=manager.start)
    starter.start()
    wait_for(
        lambda: manager.status("hp") and states(manager) == [(2, State.LOADING), (1, State.START)]
    )
    GatedBackend.gate.set()
    starter.join()
    assert states(manager) == [(2, State.AVAILABLE), (1, State.AVAILABLE)]

    manager.reload_config([ModelConfig("hp", base)])  # latest only: 2 stays, 1 goes
    wait_for(lambda: states(manager) == [(2, State.AVAILABLE), (1, State.END)])
    GatedBackend.gate.clear()
    (base / "3").mkdir()
    poller = threading.Thread(target=manager.poll_once)
    poller.start()
    wait_for(lambda: manager.status("hp")[0].state == State.LOADING)
    assert manager.resolve("hp").version == 2  # the old version serves while the new loads
    assert manager.status("hp", 2)[0].state == State.AVAILABLE
    GatedBackend.gate.set()
    poller.join()
    assert manager.resolve("hp").version == 3
    wait_for(lambda: states(manager)[:2] == [(3, State.AVAILABLE), (2, State.END)])
    manager.stop()
