"""Shared fixtures: one tiny run directory and one full export per test session (conversions
are slow, so every read-only test shares them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from exporter.config import ExportConfig, VerifySettings  # noqa: E402
from tests.exporter.run_factory import write_run_dir  # noqa: E402

FAST_VERIFY = VerifySettings(latency_repeats=2)


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained tiny run: 32 px input, 4 classes, 64 validation and 64 calibration images."""
    return write_run_dir(tmp_path_factory.mktemp("runs") / "tiny")


@pytest.fixture(scope="session")
def full_export(run_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Every format and every TFLite variant of the tiny run, published as version 1."""
    from exporter.export import export_run

    base = tmp_path_factory.mktemp("models")
    config = ExportConfig(run_dir=run_dir, model_base_path=base, name="tiny",
                          quantize=("float16", "dynamic", "int8"), verify=FAST_VERIFY)
    return export_run(config)


@pytest.fixture(scope="session")
def version_dir(full_export) -> Path:
    """``models/tiny/1`` of the shared export."""
    return full_export.version_dir


def quick_config(run_dir: Path, base: Path, **overrides) -> ExportConfig:
    """A SavedModel-only export config (the fastest complete export)."""
    settings = dict(
        run_dir=run_dir,
        model_base_path=base,
        name="tiny",
        families=("savedmodel",),
        quantize=(),
        verify=FAST_VERIFY,
    )
    settings.update(overrides)
    return ExportConfig(**settings)
