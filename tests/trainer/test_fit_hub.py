"""``trainer fit --backbone hub:PATH`` end to end with a tiny feature-vector SavedModel the
test writes: cached features, a run directory that ``trainer evaluate`` reads through the
trusted loader, and one-line errors for what a hub backbone cannot do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.trainer.test_cli import _one_line_error
from tests.trainer.test_hub import _save_module
from trainer.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_module(tmp_path_factory.mktemp("hub") / "feature_vector")


def _base(npz_path: Path, out: Path, backbone: str) -> list[str]:
    return ["fit", "--data", str(npz_path), "--out", str(out), "--backbone", backbone,
            "--image-size", "16", "--epochs", "2", "--batch-size", "16", "--val-split", "0.25",
            "--quiet"]


def test_hub_run_trains_on_cached_features_and_evaluates(npz_path: Path, module_dir: Path,
                                                         tmp_path: Path) -> None:
    from trainer.hub import load_trainer_model

    backbone = f"hub:{module_dir}"
    out = tmp_path / "run"
    result = runner.invoke(app, [*_base(npz_path, out, backbone), "--freeze", "all",
                                 "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["feature_cache"]["hit"] is False
    card = json.loads((out / "model.json").read_text())
    assert card["backbone"] == backbone
    assert card["hub_modules"] == [str(module_dir.resolve())]  # what exporter may trust
    model = load_trainer_model(out / "model.keras", backbone)
    best = load_trainer_model(out / "best.keras", backbone)
    import tensorflow as tf

    x = tf.image.resize(np.load(out / "samples.npz")["x_val"].astype("float32"), (16, 16))
    for m in (model, best):
        probs = np.asarray(m(x, training=False))
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    result = runner.invoke(app, ["evaluate", str(out), "--data", str(npz_path)])
    assert result.exit_code == 0, result.output
    assert "64 images (" in result.stdout and "top-1" in result.stdout


def test_hub_bad_inputs_are_one_line_errors(npz_path: Path, module_dir: Path,
                                            tmp_path: Path) -> None:
    out = tmp_path / "never"
    result = runner.invoke(app, [*_base(npz_path, out, f"hub:{module_dir}")])
    _one_line_error(result, "needs --freeze all")
    feature_map = _save_module(tmp_path / "map_module", kind="map")
    result = runner.invoke(app, [*_base(npz_path, out, f"hub:{feature_map}"), "--freeze", "all"])
    _one_line_error(result, "is not a feature-vector model")
    result = runner.invoke(app, [*_base(npz_path, out, f"hub:{tmp_path / 'missing'}"),
                                 "--freeze", "all"])
    _one_line_error(result, "not found")
    assert not out.exists()
