"""``trainer fit --init-from RUN`` (with ``--freeze``) and ``trainer compare`` end to end on
tiny generated data, through the library and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner

from tests.trainer.conftest import fit_kwargs
from tests.trainer.test_cli import _one_line_error
from trainer.cli import app
from trainer.config import load_config, make_config
from trainer.fit import fit

runner = CliRunner()


def _layer_weights(model: Any, path: str) -> list[np.ndarray]:
    layer = model
    for name in path.split("/"):
        layer = layer.get_layer(name)
    return [np.asarray(w) for w in layer.get_weights()]


def test_init_from_a_run_with_other_classes_and_freeze(tmp_path: Path, npz_path: Path,
                                                       small_cnn_run: Any) -> None:
    import keras

    source_dir = small_cnn_run.run_dir
    out = tmp_path / "tuned"
    # 2 of the source's 4 classes; conv1 frozen, fc1 trains; no --image-size: the source's
    config = make_config(**fit_kwargs(npz_path, out=str(out), classes=["class01", "class02"],
                                      init_from=str(source_dir), freeze="conv1", epochs=1,
                                      weights="imagenet"))
    result = fit(config, verbose=0)
    source = keras.saving.load_model(source_dir / "model.keras", safe_mode=True)
    tuned = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert tuned.output_shape == (None, 2)
    for a, b in zip(_layer_weights(tuned, "backbone/conv1"),
                    _layer_weights(source, "backbone/conv1"), strict=True):
        np.testing.assert_array_equal(a, b)  # frozen: still the source's
    changed = [not np.array_equal(a, b) for a, b in zip(
        _layer_weights(tuned, "backbone/fc1"), _layer_weights(source, "backbone/fc1"),
        strict=True)]
    assert any(changed)  # trainable: started from the source, then trained
    saved = load_config(out / "config.yaml")
    assert saved.init_from == str(source_dir) and saved.weights == "none"
    assert saved.image_size == 32
    assert result.metrics["trainable_params"] < result.metrics["total_params"]


def test_init_from_starts_from_the_source_backbone(tmp_path: Path, npz_path: Path,
                                                   small_cnn_run: Any) -> None:
    """With the whole backbone frozen, every backbone weight equals the source's."""
    import keras

    out = tmp_path / "frozen"
    fit(make_config(**fit_kwargs(npz_path, out=str(out), init_from=str(small_cnn_run.run_dir),
                                 freeze="all", epochs=1)), verbose=0)
    source = keras.saving.load_model(small_cnn_run.run_dir / "model.keras")
    tuned = keras.saving.load_model(out / "model.keras")
    for a, b in zip(_layer_weights(tuned, "backbone"), _layer_weights(source, "backbone"),
                    strict=True):
        np.testing.assert_array_equal(a, b)


def test_init_from_bad_sources_are_one_line_errors(tmp_path: Path, npz_path: Path,
                                                   small_cnn_run: Any) -> None:
    base = ["fit", "--data", str(npz_path), "--epochs", "1", "--quiet", "--val-split", "0.25"]
    not_run = tmp_path / "plain"
    not_run.mkdir()
    out = tmp_path / "never"
    result = runner.invoke(app, [*base, "--out", str(out), "--backbone", "small_cnn",
                                 "--init-from", str(not_run)])
    _one_line_error(result, "--init-from", "not a run directory")
    result = runner.invoke(app, [*base, "--out", str(out), "--backbone", "mini_vgg",
                                 "--init-from", str(small_cnn_run.run_dir)])
    _one_line_error(result, "--init-from", "incompatible backbone")
    result = runner.invoke(app, [*base, "--out", str(out), "--backbone", "small_cnn",
                                 "--image-size", "40", "--init-from", str(small_cnn_run.run_dir)])
    _one_line_error(result, "incompatible backbone at layer 'backbone/fc1'")
    assert not out.exists()


def test_compare_command_prints_a_table_and_writes_a_plot(tmp_path: Path, small_cnn_run: Any,
                                                          mobilenet_run: Any) -> None:
    png = tmp_path / "cmp.png"
    result = runner.invoke(app, ["compare", str(small_cnn_run.run_dir),
                                 str(mobilenet_run.run_dir), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["run", "backbone", "weights"]
    assert lines[1].split()[:2] == ["small", "small_cnn"]
    assert lines[2].split()[:2] == ["mobilenet", "mobilenet"]
    best = small_cnn_run.metrics["best_val_accuracy"]
    assert lines[1].split()[-1] == f"{best:.4f}"
    assert png.read_bytes()[:4] == b"\x89PNG" and f"wrote {png}" in result.stdout


def test_compare_command_bad_run_is_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", str(tmp_path)])
    _one_line_error(result, "not a run directory")
