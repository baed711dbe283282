"""Helpers shared by the manager tests: half_plus_two versions on disk and polling waits."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from serving.errors import NotFound
from serving.manager import ModelManager
from serving.model_config import ModelConfig, VersionPolicy
from serving.servables import ServedVersion, State
from tests.serving.contract_models import install_version
from tests.serving.half_plus_two import write_half_plus

X = np.array([2.0], np.float32)


def make_templates(root: Path) -> dict[int, Path]:
    """SavedModels computing 0.5x + offset for offsets 1..3 (version N uses offset N)."""
    return {offset: write_half_plus(root, offset, float(offset)) for offset in (1, 2, 3)}


def add(templates: dict[int, Path], base: Path, version: int) -> Path:
    """Publish template ``version`` as ``base/version`` (atomically, like the exporter)."""
    return install_version(templates[version], base, version)


def corrupt(base: Path, version: int) -> Path:
    """A half-copied version: a directory with a truncated ``saved_model.pb``."""
    target = base / str(version)
    target.mkdir(parents=True)
    (target / "saved_model.pb").write_bytes(b"\x00half-copied")
    return target


def manager_for(
    base: Path,
    name: str = "hp",
    policy: VersionPolicy | None = None,
    labels: dict[str, int] | None = None,
    **kwargs,
) -> ModelManager:
    """A started manager serving one SavedModel model (no polling thread unless asked)."""
    config = ModelConfig(name, base, "tensorflow", policy or VersionPolicy(), dict(labels or {}))
    kwargs.setdefault("file_system_poll_wait_seconds", 0)
    manager = ModelManager([config], **kwargs)
    manager.start()
    return manager


def states(manager: ModelManager, name: str = "hp") -> list[tuple[int, State]]:
    """(version, state) pairs of a model's status, newest first."""
    return [(s.version, s.state) for s in manager.status(name)]


def answer(served: ServedVersion) -> float:
    """What a half_plus version answers for x = 2."""
    return float(served.backend.predict("serving_default", {"x": X})["y"][0])


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``predicate`` (NotFound counts as False) until true or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except NotFound:  # the model has no versions yet
            pass
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")
