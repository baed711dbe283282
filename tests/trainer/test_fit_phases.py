"""``trainer fit`` with cached bottleneck features and two-phase fine-tuning, on tiny
generated data: the run directory ends with a complete model, the cache is reused, phase 2
unfreezes what it should with BatchNorm in inference mode, and ``--resume`` across a cached
phase and into phase 2 equals an uninterrupted run."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.trainer.conftest import fit_kwargs
from tests.trainer.test_cli import _one_line_error
from trainer.cli import app
from trainer.config import load_config, make_config
from trainer.data import read_images
from trainer.fit import fit, resume_config
from trainer.inputs import prepare_data

runner = CliRunner()


def _history(run: Path) -> list[dict[str, str]]:
    with open(run / "history.csv") as handle:
        return list(csv.DictReader(handle))


def _weights(model: Any, *path: str) -> list[np.ndarray]:
    layer = model
    for name in path:
        layer = layer.get_layer(name)
    return [np.asarray(w) for w in layer.get_weights()]


@pytest.fixture(scope="module")
def cached_run(tmp_path_factory: pytest.TempPathFactory, npz_path: Path) -> Any:
    """small_cnn, backbone fully frozen, no augmentation: cached features automatically."""
    root = tmp_path_factory.mktemp("cached")
    config = make_config(**fit_kwargs(npz_path, out=str(root / "run"), freeze="all",
                                      dropout=0.2, cache_dir=str(root / "cache")))
    return fit(config, verbose=0)


def test_cached_run_ends_with_the_complete_model(cached_run: Any) -> None:
    import keras

    from trainer.feature_head import split_classifier

    run = cached_run.run_dir
    block = cached_run.metrics["feature_cache"]
    assert block["hit"] is False and block["extract_seconds"] > 0
    assert block["head_epoch_seconds"] > 0 and block["estimated_speedup"] > 1
    assert [r["phase"] for r in _history(run)] == ["1", "1"]
    entries = sorted(Path(block["cache_dir"]).glob("*.npz"))
    assert len(entries) == 2  # training and validation features
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    best = keras.saving.load_model(run / "best.keras", safe_mode=True)
    assert best.input_shape == model.input_shape == (None, 32, 32, 3)  # full models
    data = prepare_data(load_config(run / "config.yaml"))  # the run's split, in order
    x_val = read_images(data.val, np.arange(len(data.val)), image_size=32).astype("float32")
    val_features = [np.load(p)["features"] for p in entries
                    if len(np.load(p)["features"]) == len(x_val)][0]
    head = split_classifier(model).head
    np.testing.assert_allclose(np.asarray(model(x_val, training=False)),
                               np.asarray(head(val_features, training=False)), atol=1e-5)
    assert cached_run.metrics["best_val_accuracy"] == max(
        float(r["val_accuracy"]) for r in _history(run))


def test_second_run_hits_the_cache(cached_run: Any, npz_path: Path, tmp_path: Path) -> None:
    block = cached_run.metrics["feature_cache"]
    config = make_config(**fit_kwargs(npz_path, out=str(tmp_path / "again"), freeze="all",
                                      dropout=0.2, cache_dir=block["cache_dir"], epochs=1))
    again = fit(config, verbose=0)
    assert again.metrics["feature_cache"]["hit"] is True
    assert again.metrics["feature_cache"]["extract_seconds"] == block["extract_seconds"]


def test_augment_alone_trains_on_images(npz_path: Path, tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    """Automatic caching stays off with --augment; --cache-features forces it and says so."""
    settings = fit_kwargs(npz_path, freeze="all", epochs=1, augment=["flip"],
                          cache_dir=str(tmp_path / "cache"))
    plain = fit(make_config(out=str(tmp_path / "aug"), **settings), verbose=0)
    assert "feature_cache" not in plain.metrics
    with caplog.at_level(logging.INFO, logger="trainer.phases"):
        forced = fit(make_config(out=str(tmp_path / "forced"), cache_features=True, **settings),
                     verbose=0)
    assert "feature_cache" in forced.metrics
    assert "--augment flip is not applied" in caplog.text


def test_cache_flag_errors_are_one_line(npz_path: Path, tmp_path: Path) -> None:
    base = ["fit", "--data", str(npz_path), "--backbone", "small_cnn", "--weights", "none",
            "--epochs", "1", "--val-split", "0.25", "--quiet"]
    out = tmp_path / "never"
    result = runner.invoke(app, [*base, "--out", str(out), "--cache-features"])
    _one_line_error(result, "--cache-features needs a fully frozen backbone")
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    result = runner.invoke(app, [*base, "--out", str(out), "--freeze", "all", "--cache-dir",
                                 str(blocker / "cache")])
    _one_line_error(result, "not writable", "--cache-dir")
    result = runner.invoke(app, [*base, "--out", str(out), "--fine-tune-epochs", "1",
                                 "--unfreeze-from", "conv9"])
    _one_line_error(result, "--unfreeze-from 'conv9': no such backbone layer")
    result = runner.invoke(app, [*base, "--out", str(out), "--fine-tune-epochs", "1",
                                 "--freeze", "2"])
    _one_line_error(result, "--freeze 2 conflicts with --fine-tune-epochs")
    assert not out.exists()


TWO_PHASE = dict(backbone="mini_vgg", epochs=2, fine_tune_epochs=2, fine_tune_lr=1e-4,
                 unfreeze_from="block3_conv1", augment=["flip"], dropout=0.3)


def test_two_phase_fine_tune(npz_path: Path, tmp_path: Path,
                             caplog: pytest.LogCaptureFixture) -> None:
    import keras

    out = tmp_path / "two"
    with caplog.at_level(logging.INFO, logger="trainer.phases"):
        result = fit(make_config(**fit_kwargs(npz_path, out=str(out),
                                              cache_dir=str(tmp_path / "cache"), **TWO_PHASE)),
                     verbose=0)
    assert "--augment flip applies in phase 2 only" in caplog.text
    rows = _history(out)
    assert [r["phase"] for r in rows] == ["1", "1", "2", "2"]
    assert float(rows[2]["lr"]) == pytest.approx(1e-4, rel=1e-6)
    assert float(rows[0]["lr"]) == pytest.approx(1e-3, rel=1e-6)
    assert result.metrics["phase2_start_epoch"] == 3 and "feature_cache" in result.metrics
    base = keras.saving.load_model(out / "checkpoints" / "base.keras", safe_mode=True)
    tuned = keras.saving.load_model(out / "model.keras", safe_mode=True)
    for name in ("block1_conv1", "block2_conv2", "block2_bn2"):  # before block3_conv1: frozen
        for a, b in zip(_weights(tuned, "backbone", name), _weights(base, "backbone", name),
                        strict=True):
            np.testing.assert_array_equal(a, b)
    changed = _weights(tuned, "backbone", "block3_conv1")[0] != \
        _weights(base, "backbone", "block3_conv1")[0]
    assert changed.any()  # phase 2 trained it
    for a, b in zip(_weights(tuned, "backbone", "block3_bn1"),
                    _weights(base, "backbone", "block3_bn1"), strict=True):
        np.testing.assert_array_equal(a, b)  # BatchNorm in inference mode: stats unchanged
    assert not tuned.get_layer("backbone").get_layer("block3_bn1").trainable
    assert tuned.get_layer("backbone").get_layer("block3_conv2").trainable


def test_resume_through_cached_phase_and_phase_2(npz_path: Path, tmp_path: Path) -> None:
    """Interrupted after epoch 1 (inside the cached phase), resumed: the same weights as an
    uninterrupted run, in phase 2's backbone and in the head."""
    import keras

    settings = fit_kwargs(npz_path, cache_dir=str(tmp_path / "cache"), **TWO_PHASE)
    fit(make_config(out=str(tmp_path / "full"), **settings), verbose=0)

    class Interrupt(Exception):
        pass

    def stop(epoch: int) -> None:
        raise Interrupt

    with pytest.raises(Interrupt):
        fit(make_config(out=str(tmp_path / "split"), **settings), verbose=0, epoch_hook=stop)
    state = json.loads((tmp_path / "split" / "checkpoints" / "state.json").read_text())
    assert state["checkpoint"] == "head" and state["epochs_done"] == 1
    resumed = fit(resume_config(tmp_path / "split"), resume=True, verbose=0)
    full = keras.saving.load_model(tmp_path / "full" / "model.keras")
    split = keras.saving.load_model(tmp_path / "split" / "model.keras")
    for a, b in zip(full.get_weights(), split.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert [r["phase"] for r in _history(tmp_path / "split")] == ["1", "1", "2", "2"]
    # recorded by the first part, which found the uninterrupted run's entries
    assert resumed.metrics["feature_cache"]["hit"] is True
