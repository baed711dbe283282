"""Warmup replay of assets.extra/tf_serving_warmup_requests before a version is AVAILABLE."""

from __future__ import annotations

import numpy as np
import pytest

from serving.backends.base import Backend
from serving.errors import Code, ServingError
from serving.manager import ModelManager
from serving.model_config import ModelConfig
from serving.servables import State
from serving.warmup import WARMUP_FILE, read_tfrecords, run_warmup
from tests.serving.contract_models import write_warmup_file
from tests.serving.half_plus_two import write_half_plus


def predict_request(signature: str = "serving_default", alias: str = "x"):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hp"
    request.model_spec.signature_name = signature
    request.inputs[alias].CopyFrom(tf.make_tensor_proto(np.array([1.0, 2.0], np.float32)))
    return request


class Recorder(Backend):
    """A backend that records predict calls (to see exactly what warmup replays)."""

    platform = "tensorflow"

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, list]] = []

    def load(self, version_dir):  # pragma: no cover - not used
        raise NotImplementedError

    def signature_defs(self):  # pragma: no cover - not used
        raise NotImplementedError

    def predict(self, signature_name, inputs, output_filter=()):
        self.calls.append((signature_name, dict(inputs), list(output_filter)))
        return {}


def test_run_warmup_replays_each_record(tmp_path):
    with_filter = predict_request()
    with_filter.output_filter.append("y")
    write_warmup_file(tmp_path, [predict_request(), with_filter])
    recorder = Recorder()
    assert run_warmup(recorder, tmp_path) == 2
    (sig0, inputs0, filter0), (_, _, filter1) = recorder.calls
    assert sig0 == "serving_default" and filter0 == [] and filter1 == ["y"]
    np.testing.assert_array_equal(inputs0["x"], np.array([1.0, 2.0], np.float32))
    assert run_warmup(recorder, tmp_path / "nothing") == 0


def test_truncated_warmup_file_is_data_loss(tmp_path):
    path = write_warmup_file(tmp_path, [predict_request()])
    path.write_bytes(path.read_bytes()[:-6])
    with pytest.raises(ServingError) as err:
        list(read_tfrecords(path))
    assert err.value.code == Code.DATA_LOSS


def _manager(base, **kwargs) -> ModelManager:
    manager = ModelManager([ModelConfig("hp", base)], file_system_poll_wait_seconds=0, **kwargs)
    manager.start()
    return manager


def test_good_warmup_loads_and_bad_warmup_fails_the_load(tmp_path):
    base = tmp_path / "hp"
    good = write_half_plus(base, 1)
    write_warmup_file(good, [predict_request()])
    manager = _manager(base)
    try:
        assert manager.status("hp")[0].state == State.AVAILABLE
        bad = write_half_plus(tmp_path / "staging", 2)
        write_warmup_file(bad, [predict_request(signature="nope")])
        bad.rename(base / "2")
        manager.poll_once()
        status = manager.status("hp")
        assert [(s.version, s.state) for s in status] == [(2, State.END), (1, State.AVAILABLE)]
        assert status[0].error_code == Code.FAILED_PRECONDITION
        assert status[0].error_message == 'Serving signature key "nope" not found.'
        assert manager.resolve("hp").version == 1
    finally:
        manager.stop()


def test_warmup_can_be_disabled(tmp_path):
    base = tmp_path / "hp"
    version = write_half_plus(base, 1)
    write_warmup_file(version, [predict_request(alias="wrong")])
    assert (version / WARMUP_FILE).is_file()
    manager = _manager(base, enable_warmup=False)
    try:
        assert manager.status("hp")[0].state == State.AVAILABLE
    finally:
        manager.stop()
