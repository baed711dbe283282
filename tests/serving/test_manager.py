"""Model manager: version policies, resolution errors, labels, status, config reloads."""

from __future__ import annotations

import pytest

from serving.errors import FailedPrecondition, InvalidArgument, NotFound
from serving.manager import ModelManager
from serving.model_config import ModelConfig, VersionPolicy
from serving.servables import State
from tests.serving.manager_helpers import (
    add,
    answer,
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
