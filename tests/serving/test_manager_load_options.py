"""How a version is loaded: SavedModel tags, TFLite instead of the SavedModel, load retries,
and warmup iterations (``ModelManager`` + ``serving.backends.runtime_platform``)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from serving.backends import (
    BACKENDS,
    BackendOptions,
    backend_for_version,
    runtime_platform,
)
from serving.backends.base import Backend
from serving.backends.savedmodel import SavedModelBackend
from serving.backends.tflite_backend import TFLiteBackend
from serving.errors import Code
from serving.manager import ModelManager
from serving.model_config import ModelConfig
from serving.servables import State
from tests.serving.contract_models import (
    IMAGE_SIZE,
    NUM_CLASSES,
    write_contract_version,
    write_warmup_file,
)
from tests.serving.half_plus_two import write_half_plus
from tests.serving.test_manager_warmup import predict_request


def started(base: Path, **kwargs) -> ModelManager:
    manager = ModelManager([ModelConfig("m", base)], file_system_poll_wait_seconds=0, **kwargs)
    manager.start()
    return manager


# -- which runtime serves a version ---------------------------------------------------------


def test_runtime_platform_is_chosen_in_one_place(tmp_path):
    with_tflite, without = tmp_path / "1", tmp_path / "2"
    with_tflite.mkdir()
    without.mkdir()
    (with_tflite / "model.tflite").write_bytes(b"")
    prefer, use = BackendOptions(prefer_tflite=True), BackendOptions(use_tflite=True)
    assert runtime_platform("tensorflow", with_tflite, BackendOptions()) == "tensorflow"
    assert runtime_platform("tensorflow", with_tflite, prefer) == "tflite"
    assert runtime_platform("tensorflow", without, prefer) == "tensorflow"  # falls back
    assert runtime_platform("tensorflow", without, use) == "tflite"  # and fails to load
    assert runtime_platform("onnx", with_tflite, use) == "onnx"  # only tensorflow models
    assert isinstance(backend_for_version("tensorflow", with_tflite, prefer), TFLiteBackend)


@pytest.fixture(scope="module")
def contract_version(tmp_path_factory) -> Path:
    """One exported-style version: SavedModel + model.tflite + contract."""
    return write_contract_version(tmp_path_factory.mktemp("contract"), 1)


def _serving_runtime(manager: ModelManager) -> type:  # no reference kept (stop would wait)
    return type(manager.resolve("m").backend)


@pytest.mark.parametrize(("options", "runtime"), [
    (BackendOptions(), SavedModelBackend),
    (BackendOptions(prefer_tflite=True), TFLiteBackend),
    (BackendOptions(use_tflite=True), TFLiteBackend),
])
def test_tflite_flags_serve_the_versions_model_tflite(contract_version, options, runtime):
    manager = started(contract_version.parent, backend_options=options)
    try:
        assert _serving_runtime(manager) is runtime
        assert _probabilities(manager).shape == (1, NUM_CLASSES)
    finally:
        manager.stop()


def _probabilities(manager: ModelManager) -> np.ndarray:
    image = np.random.default_rng(0).random((1, IMAGE_SIZE, IMAGE_SIZE, 3), np.float32)
    return manager.resolve("m").backend.predict("serving_default", {"image": image})[
        "probabilities"]


def test_use_tflite_without_model_tflite_fails_the_load(tmp_path):
    write_half_plus(tmp_path / "m", 1)
    manager = started(tmp_path / "m", backend_options=BackendOptions(use_tflite=True))
    try:
        (status,) = manager.status("m")
        assert status.state == State.END and status.error_code == Code.NOT_FOUND
        assert "model.tflite not found" in status.error_message
    finally:
        manager.stop()


def test_prefer_tflite_without_model_tflite_serves_the_saved_model(tmp_path):
    write_half_plus(tmp_path / "m", 1)
    manager = started(tmp_path / "m", backend_options=BackendOptions(prefer_tflite=True))
    try:
        assert _serving_runtime(manager) is SavedModelBackend
    finally:
        manager.stop()


# -- SavedModel tags ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def half_plus(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("hp") / "m"
    write_half_plus(base, 1)
    return base


def test_saved_model_tags_pick_the_metagraph(half_plus):
    manager = started(half_plus, backend_options=BackendOptions(saved_model_tags=("gpu",)))
    try:
        (status,) = manager.status("m")
        assert status.state == State.END
        assert "Could not find meta graph def matching supplied tags: { gpu }" in (
            status.error_message)
    finally:
        manager.stop()
    manager = started(half_plus, backend_options=BackendOptions(saved_model_tags=("serve",)))
    try:
        np.testing.assert_allclose(_half_plus_of_two(manager), [3.0])
    finally:
        manager.stop()


def _half_plus_of_two(manager: ModelManager) -> np.ndarray:
    return manager.resolve("m").backend.predict("", {"x": np.array([2.0], np.float32)})["y"]


# -- load retries ---------------------------------------------------------------------------


class Flaky(Backend):
    """Fails its first ``failures`` loads (class-wide count)."""

    platform = "tensorflow"
    failures = 0
    attempts = 0

    def load(self, version_dir):
        type(self).attempts += 1
        if type(self).attempts <= type(self).failures:
            raise OSError("transient read error")

    def signature_defs(self):
        return None

    def predict(self, signature_name, inputs, output_filter=()):
        return {}


@pytest.fixture
def flaky(monkeypatch, tmp_path):
    monkeypatch.setitem(BACKENDS, "tensorflow", Flaky)
    Flaky.attempts = 0
    (tmp_path / "m" / "1").mkdir(parents=True)
    return tmp_path / "m"


@pytest.mark.parametrize(("failures", "retries", "attempts", "state"), [
    (1, 0, 1, State.END),  # no retries: one attempt (our default)
    (2, 2, 3, State.AVAILABLE),  # third attempt succeeds
    (9, 2, 3, State.END),  # gives up after 1 + retries attempts
])
def test_failed_loads_are_retried(flaky, failures, retries, attempts, state):
    Flaky.failures = failures
    manager = started(flaky, max_load_retries=retries, load_retry_interval_seconds=0.001)
    try:
        assert Flaky.attempts == attempts
        (status,) = manager.status("m")
        assert status.state == state
        if state == State.END:
            assert status.error_message == "transient read error"
    finally:
        manager.stop()


def test_stop_cuts_a_retry_wait_short(flaky):
    Flaky.failures = 9
    manager = ModelManager([ModelConfig("m", flaky)], file_system_poll_wait_seconds=0,
                           max_load_retries=5, load_retry_interval_seconds=3600)
    starter = threading.Thread(target=manager.start)
    starter.start()
    try:
        while Flaky.attempts < 1:
            starter.join(0.01)
    finally:
        manager.stop()  # would otherwise wait an hour before the second attempt
    starter.join(30)
    assert not starter.is_alive() and Flaky.attempts == 1
    assert manager.status("m")[0].state == State.END


# -- warmup iterations ----------------------------------------------------------------------


def test_warmup_iterations_replay_each_record_that_often(tmp_path, monkeypatch):
    version = write_half_plus(tmp_path / "m", 1)
    write_warmup_file(version, [predict_request(), predict_request()])
    calls = []
    original = SavedModelBackend.predict

    def counting(self, *args, **kwargs):
        calls.append(args[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SavedModelBackend, "predict", counting)
    manager = started(tmp_path / "m", warmup_iterations=3)
    try:
        assert manager.status("m")[0].state == State.AVAILABLE
        assert len(calls) == 6  # 2 records x 3 iterations
    finally:
        manager.stop()
