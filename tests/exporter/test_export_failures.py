"""Refusal paths of ``export_run``: nothing is published and nothing is left behind."""

from __future__ import annotations

import dataclasses
import errno
from pathlib import Path

import numpy as np
import pytest

from exporter import formats as formats_module
from exporter.errors import ConversionError, ExportError, ParityError, PublishError
from exporter.export import export_run
from tests.exporter.conftest import quick_config


def _leftovers(base: Path) -> list[str]:
    return sorted(p.name for p in base.iterdir()) if base.exists() else []


def test_version_auto_increment_and_force(run_dir: Path, tmp_path: Path) -> None:
    first = export_run(quick_config(run_dir, tmp_path))
    second = export_run(quick_config(run_dir, tmp_path))
    assert (first.version, second.version) == (1, 2)
    assert _leftovers(tmp_path / "tiny") == ["1", "2"]
    with pytest.raises(PublishError, match="already exists; pass --force"):
        export_run(quick_config(run_dir, tmp_path, version=2))
    marker = tmp_path / "tiny" / "2" / "marker"
    marker.write_text("old")
    export_run(quick_config(run_dir, tmp_path, version=2, force=True))
    assert not marker.exists()
    assert _leftovers(tmp_path / "tiny") == ["1", "2"]
    assert [f.format for f in second.parity.formats] == ["savedmodel"]


def test_writer_failure_mid_export_leaves_nothing(run_dir, tmp_path, monkeypatch) -> None:
    calls = []

    def boom(ctx) -> None:
        calls.append(sorted(p.name for p in ctx.staging.iterdir()))
        raise RuntimeError("converter crashed on op 'FancyOp'")

    fmt = formats_module.REGISTRY["tflite"]
    monkeypatch.setitem(formats_module.REGISTRY, "tflite", dataclasses.replace(fmt, write=boom))
    with pytest.raises(ConversionError, match="tflite: RuntimeError: converter crashed"):
        export_run(quick_config(run_dir, tmp_path, families=("savedmodel", "tflite")))
    assert "saved_model.pb" in calls[0]  # it failed mid-export, after the SavedModel was written
    assert _leftovers(tmp_path / "tiny") == []


def test_disk_full_is_reported_and_nothing_published(run_dir, tmp_path, monkeypatch) -> None:
    def full(ctx) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    fmt = formats_module.REGISTRY["onnx"]
    monkeypatch.setitem(formats_module.REGISTRY, "onnx", dataclasses.replace(fmt, write=full))
    with pytest.raises(PublishError, match="disk full while writing model.onnx"):
        export_run(quick_config(run_dir, tmp_path, families=("savedmodel", "onnx")))
    assert _leftovers(tmp_path / "tiny") == []


def test_tensorflow_disk_full_is_reported(run_dir, tmp_path, monkeypatch) -> None:
    def full(ctx) -> None:  # what tf.io / the SavedModel writer raise (not an OSError)
        raise RuntimeError("write failed: No space left on device")

    fmt = formats_module.REGISTRY["tflite"]
    monkeypatch.setitem(formats_module.REGISTRY, "tflite", dataclasses.replace(fmt, write=full))
    with pytest.raises(PublishError, match="disk full while writing model.tflite"):
        export_run(quick_config(run_dir, tmp_path, families=("savedmodel", "tflite")))
    assert _leftovers(tmp_path / "tiny") == []


def test_parity_failure_names_format_and_shortfall(run_dir, tmp_path, monkeypatch) -> None:
    class Shuffled:
        def __init__(self, inner) -> None:
            self.inner = inner

        def predict(self, x: np.ndarray) -> np.ndarray:
            return np.roll(self.inner.predict(x), 1, axis=1)  # every top-1 moves

    fmt = formats_module.REGISTRY["savedmodel"]
    broken = dataclasses.replace(fmt, runner=lambda path: Shuffled(fmt.runner(path)))
    monkeypatch.setitem(formats_module.REGISTRY, "savedmodel", broken)
    with pytest.raises(
        ParityError, match=r"not published: savedmodel: top-1 agreement .* < required 99\.90%"
    ):
        export_run(quick_config(run_dir, tmp_path))
    assert _leftovers(tmp_path / "tiny") == []


def test_int8_without_calibration_data(run_dir: Path, tmp_path: Path) -> None:
    bare = tmp_path / "run"
    bare.mkdir()
    for name in ("model.keras", "model.json", "labels.txt"):
        (bare / name).write_bytes((run_dir / name).read_bytes())
    with np.load(run_dir / "samples.npz") as samples:  # validation images only, no x_calib
        np.savez(bare / "samples.npz", x_val=samples["x_val"], y_val=samples["y_val"])
    config = quick_config(bare, tmp_path / "models", families=("tflite",), quantize=("int8",))
    with pytest.raises(ExportError, match="int8 needs calibration images: pass --calibration"):
        export_run(config)
    missing = dataclasses.replace(config, calibration_data=tmp_path / "missing.npz")
    with pytest.raises(ExportError, match="missing.npz does not exist"):
        export_run(missing)
    assert not (tmp_path / "models").exists()


def test_target_not_writable(run_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "models"
    blocker.write_text("not a directory")
    with pytest.raises(PublishError):
        export_run(quick_config(run_dir, blocker))


def test_formats_without_savedmodel_publish_only_those(run_dir: Path, tmp_path: Path) -> None:
    result = export_run(quick_config(run_dir, tmp_path, families=("onnx",)))
    names = sorted(p.name for p in result.version_dir.iterdir())
    assert names == ["export_report.json", "labels.txt", "model.onnx"]
    assert "savedmodel" not in result.report["contract"]
