"""``fit`` end to end on tiny generated data: every run-directory artifact exists and is
valid, resume equals an uninterrupted run, overwrite protection."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.trainer.conftest import CLASSES, N_PER_CLASS, fit_kwargs
from trainer.config import load_config, make_config
from trainer.errors import TrainerError
from trainer.fit import fit, resume_config

ARTIFACTS = ["model.keras", "best.keras", "config.yaml", "history.csv", "metrics.json",
             "labels.txt", "model.json", "samples.npz", "loss.png", "accuracy.png",
             "confusion_matrix.png", "checkpoints/state.json"]
CONTRACT_KEYS = ["format_version", "model_file", "backbone", "image_size", "input_name",
                 "input_dtype", "input_range", "color_order", "resize", "preprocessing",
                 "num_classes", "labels", "output"]


def _check_run(run_dir: Path, backbone: str, size: int) -> dict[str, Any]:
    for name in ARTIFACTS:
        assert (run_dir / name).is_file(), name
    assert not list(run_dir.rglob("*.tmp*")), "temporary files left behind"
    labels = (run_dir / "labels.txt").read_text().splitlines()
    assert labels == [f"class{i:02d}" for i in range(CLASSES)]
    card = json.loads((run_dir / "model.json").read_text())
    assert list(card) == CONTRACT_KEYS
    assert card["backbone"] == backbone and card["image_size"] == size
    assert card["labels"] == labels and card["num_classes"] == CLASSES
    assert card["input_name"] == "image" and card["output"] == "probabilities"
    assert card["resize"] == {"method": "bilinear", "half_pixel_centers": True,
                              "antialias": False}
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(0.0 <= float(r["val_accuracy"]) <= 1.0 for r in rows)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("accuracy_before_training", "final_val_accuracy", "final_val_loss",
                "best_val_accuracy", "best_val_loss", "train_time_s", "images_per_s",
                "trainable_params", "total_params"):
        assert metrics[key] is not None, key
    assert set(metrics["per_class_accuracy"]) == set(labels)
    assert metrics["best_val_accuracy"] == max(float(r["val_accuracy"]) for r in rows)
    assert metrics["num_train"] + metrics["num_val"] == N_PER_CLASS * CLASSES
    samples = np.load(run_dir / "samples.npz")
    assert samples["x_val"].dtype == np.uint8 and samples["x_val"].shape[1:] == (32, 32, 3)
    assert samples["y_val"].dtype == np.int64 and len(samples["y_val"]) == metrics["num_val"]
    assert samples["x_calib"].dtype == np.uint8 and len(samples["x_calib"]) == metrics["num_train"]
    for png in ("loss.png", "accuracy.png", "confusion_matrix.png"):
        with Image.open(run_dir / png) as image:
            assert image.format == "PNG" and image.size[0] > 100
    config = load_config(run_dir / "config.yaml")
    assert config.image_size == size and config.backbone == backbone
    return metrics


def test_small_cnn_run_artifacts(small_cnn_run: Any) -> None:
    metrics = _check_run(small_cnn_run.run_dir, "small_cnn", 32)
    assert metrics == json.loads((small_cnn_run.run_dir / "metrics.json").read_text())
    assert metrics["trainable_params"] == metrics["total_params"]


def test_mobilenet_run_artifacts(mobilenet_run: Any) -> None:
    metrics = _check_run(mobilenet_run.run_dir, "mobilenet", 32)
    assert 0 < metrics["trainable_params"] < metrics["total_params"]


LOAD_SCRIPT = """
import sys, numpy as np, keras
model = keras.saving.load_model(sys.argv[1], safe_mode=True)
assert not any(m == "trainer" or m.startswith("trainer.") for m in sys.modules)
x = np.load(sys.argv[2])["x_val"].astype("float32")
probs = np.asarray(model.predict(x, verbose=0))
print(probs.shape[0], probs.shape[1], float(np.abs(probs.sum(axis=1) - 1).max()))
"""


def test_model_loads_safely_without_trainer(mobilenet_run: Any) -> None:
    run_dir = mobilenet_run.run_dir
    done = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(run_dir / "model.keras"),
         str(run_dir / "samples.npz")],
        capture_output=True, text=True, cwd=run_dir, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    n, classes, err = done.stdout.split()
    assert int(classes) == CLASSES and int(n) == mobilenet_run.metrics["num_val"]
    assert float(err) < 1e-5


def test_best_model_loads_safely(small_cnn_run: Any) -> None:
    import keras

    model = keras.saving.load_model(small_cnn_run.run_dir / "best.keras", safe_mode=True)
    x = np.load(small_cnn_run.run_dir / "samples.npz")["x_val"].astype("float32")
    probs = np.asarray(model(x, training=False))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_resume_equals_uninterrupted(tmp_path: Path, npz_path: Path) -> None:
    import keras

    settings = fit_kwargs(npz_path, dropout=0.3, augment=["flip", "crop"], schedule="cosine",
                          optimizer="sgd")
    fit(make_config(out=str(tmp_path / "full"), **settings), verbose=0)

    class Interrupt(Exception):
        pass

    def stop_after_first(epoch: int) -> None:
        raise Interrupt

    with pytest.raises(Interrupt):
        fit(make_config(out=str(tmp_path / "split"), **settings), verbose=0,
            epoch_hook=stop_after_first)
    assert not (tmp_path / "split" / "model.keras").exists()
    state = json.loads((tmp_path / "split" / "checkpoints" / "state.json").read_text())
    assert state["epochs_done"] == 1
    fit(resume_config(tmp_path / "split"), resume=True, verbose=0)
    full = keras.saving.load_model(tmp_path / "full" / "model.keras")
    split = keras.saving.load_model(tmp_path / "split" / "model.keras")
    for a, b in zip(full.get_weights(), split.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(full.optimizer.variables, split.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert (tmp_path / "full" / "history.csv").read_text().splitlines()[1].split(",")[:5] == \
        (tmp_path / "split" / "history.csv").read_text().splitlines()[1].split(",")[:5]


def test_existing_run_dir_is_refused_then_overwritten(tmp_path: Path, npz_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("old: run\n")
    settings = fit_kwargs(npz_path, out=str(out), epochs=1)
    with pytest.raises(TrainerError, match="already exists; pass --overwrite"):
        fit(make_config(**settings), verbose=0)
    result = fit(make_config(**settings, overwrite=True), verbose=0)
    assert result.metrics["epochs_run"] == 1
    assert load_config(out / "config.yaml").epochs == 1


def test_overwrite_refuses_a_foreign_directory(tmp_path: Path, npz_path: Path) -> None:
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(TrainerError, match="does not look like a run directory"):
        fit(make_config(**fit_kwargs(npz_path, out=str(out), overwrite=True)), verbose=0)
    assert (out / "holiday.jpg").read_bytes() == b"precious"


def test_bad_backbone_request_leaves_no_run_dir(tmp_path: Path, npz_path: Path) -> None:
    out = tmp_path / "never"
    with pytest.raises(TrainerError, match="too small for mobilenet"):
        fit(make_config(**fit_kwargs(npz_path, out=str(out), backbone="mobilenet",
                                     image_size=16)), verbose=0)
    assert not out.exists()
