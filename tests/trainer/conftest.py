"""Shared fixtures for trainer tests: tiny generated data and runs trained once per session."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.trainer.data_factory import write_npz  # noqa: E402

N_PER_CLASS = 16
CLASSES = 4


def fit_kwargs(data: Path, **overrides: Any) -> dict[str, Any]:
    """Settings of a tiny, fast run (64 images, 25% validation)."""
    values: dict[str, Any] = dict(
        data=str(data),
        backbone="small_cnn",
        weights="none",
        epochs=2,
        batch_size=16,
        val_split=0.25,
        seed=3,
    )
    values.update(overrides)
    return values


@pytest.fixture(scope="session")
def npz_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 generated 32x32 images in 4 named classes."""
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    write_npz(path, n_per_class=N_PER_CLASS, classes=CLASSES, size=32, seed=0)
    return path


@pytest.fixture(scope="session")
def small_cnn_run(tmp_path_factory: pytest.TempPathFactory, npz_path: Path) -> Any:
    """A 2-epoch small_cnn run (dropout, augmentation) shared by the artifact tests."""
    from trainer.config import make_config
    from trainer.fit import fit

    out = tmp_path_factory.mktemp("runs") / "small"
    return fit(
        make_config(**fit_kwargs(npz_path, out=str(out), dropout=0.2, augment=["flip"])), verbose=0
    )


@pytest.fixture(scope="session")
def mobilenet_run(tmp_path_factory: pytest.TempPathFactory, npz_path: Path) -> Any:
    """A 2-epoch MobileNet alpha 0.25 run at 32 px with random weights, first 10 backbone
    layers frozen."""
    from trainer.config import make_config
    from trainer.fit import fit

    out = tmp_path_factory.mktemp("runs") / "mobilenet"
    config = make_config(
        **fit_kwargs(
            npz_path, out=str(out), backbone="mobilenet", alpha=0.25, image_size=32, freeze="10"
        )
    )
    return fit(config, verbose=0)
