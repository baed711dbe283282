"""The manager serves one exported version directory through all three backends alike."""

from __future__ import annotations

import numpy as np
import pytest

from serving.errors import InvalidArgument, NotFound
from serving.manager import ModelManager
from serving.model_config import ModelConfig, VersionPolicy, parse_model_config_text
from serving.servables import State
from tests.serving.contract_models import write_contract_version

PLATFORMS = ("tensorflow", "onnx", "tflite")


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    base = tmp_path_factory.mktemp("models") / "cls"
    write_contract_version(base, 7)
    configs = [ModelConfig(p, base, p, VersionPolicy.latest(1)) for p in PLATFORMS]
    manager = ModelManager(configs, file_system_poll_wait_seconds=0)
    manager.start()
    yield manager
    manager.stop()


def test_every_platform_loads_and_answers_the_same(manager):
    image = np.random.default_rng(5).integers(0, 256, (2, 30, 22, 3), dtype=np.uint8)
    answers = {}
    for platform in PLATFORMS:
        assert [(s.version, s.state) for s in manager.status(platform)] == [(7, State.AVAILABLE)]
        served = manager.resolve(platform)
        assert (served.version, served.platform) == (7, platform)
        answers[platform] = served.backend.predict("serve_raw", {"image": image})
    for platform in ("onnx", "tflite"):
        np.testing.assert_array_equal(
            answers[platform]["top_k_ids"], answers["tensorflow"]["top_k_ids"]
        )
        np.testing.assert_allclose(
            answers[platform]["probabilities"], answers["tensorflow"]["probabilities"], rtol=1e-5
        )


@pytest.mark.parametrize("name", ["../cls", "a/b", "a\\b", "..", "/etc/passwd"])
def test_path_like_names_never_reach_the_filesystem(manager, name):
    with pytest.raises(NotFound, match="Servable not found for request"):
        manager.resolve(name)
    with pytest.raises(NotFound, match="Could not find any versions"):
        manager.status(name)
    quoted = name.replace("\\", "\\\\")  # text-format escaping of a backslash
    text = f"model_config_list {{ config {{ name: '{quoted}' base_path: '/x' }} }}"
    with pytest.raises(InvalidArgument, match="invalid model name"):
        parse_model_config_text(text)
