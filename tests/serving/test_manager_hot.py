"""Model manager: hot changes on disk, availability preservation, unloading, states."""

from __future__ import annotations

import gc
import shutil
import threading

import numpy as np
import pytest

from serving.backends import BACKENDS
from serving.backends.base import Backend
from serving.errors import Code, FailedPrecondition, NotFound
from serving.manager import ModelManager
from serving.model_config import ModelConfig, VersionPolicy
from serving.servables import State
from tests.serving.manager_helpers import (
    add,
    answer,
    corrupt,
    make_templates,
    manager_for,
    states,
    wait_for,
)


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    return make_templates(tmp_path_factory.mktemp("templates"))


@pytest.fixture
def base(tmp_path):
    return tmp_path / "hp"


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
