"""The ``trainer`` CLI through typer's CliRunner: a short fit, evaluate, backbones, and one
clear line with exit code 1 for each bad input."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.trainer.data_factory import write_corrupt_files, write_image_folder
from trainer.cli import app

runner = CliRunner()
TINY = ["--backbone", "small_cnn", "--weights", "none", "--epochs", "1", "--batch-size", "16",
        "--val-split", "0.25", "--quiet"]


def _run(args: list[str]) -> Any:
    return runner.invoke(app, args, catch_exceptions=False)


def _one_line_error(result: Any, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def test_fit_then_resume_then_evaluate(tmp_path: Path, npz_path: Path) -> None:
    out = tmp_path / "run"
    result = _run(["fit", "--data", str(npz_path), "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    assert f"run: {out}" in result.stdout and "val accuracy: before" in result.stdout
    result = _run(["fit", "--out", str(out), "--resume", "--epochs", "2", "--data", "ignored",
                   "--quiet"])
    assert result.exit_code == 0, result.output
    assert len((out / "history.csv").read_text().splitlines()) == 3
    assert "\nepochs: 2\n" in (out / "config.yaml").read_text()
    result = _run(["evaluate", str(out), "--data", str(npz_path)])
    assert result.exit_code == 0, result.output
    assert "64 images (" in result.stdout and "top-1" in result.stdout
    assert "class03" in result.stdout


def test_backbones_without_params() -> None:
    result = _run(["backbones", "--no-params"])
    assert result.exit_code == 0
    for name in ("small_cnn", "mobilenet_v3_large", "efficientnet_b0"):
        assert name in result.stdout


@pytest.fixture(scope="module")
def bad_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bad") / "bad.npz"
    np.savez(path, images=np.zeros((4, 8, 8, 3), np.uint8), y=np.zeros(4, np.int64))
    return path


@pytest.fixture(scope="module")
def other_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trainer.backbones import create_backbone

    path = tmp_path_factory.mktemp("w") / "mini_vgg.weights.h5"
    create_backbone("mini_vgg", 32, "none").save_weights(path)
    return path


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [(["--backbone", "resnet18"], ["unknown backbone 'resnet18'", "mobilenet_v2"]),
     (["--backbone", "mobilenet", "--weights", "none", "--image-size", "16"],
      ["--image-size 16 is too small for mobilenet: minimum 32"]),
     (["--backbone", "small_cnn", "--weights", "imagenet"], ["small_cnn has no ImageNet"]),
     (["--backbone", "mobilenet", "--weights", "WEIGHTS", "--alpha", "0.25",
       "--image-size", "32"], ["does not fit mobilenet alpha 0.25"]),
     (["--val-split", "2"], ["--val-split: must be in [0, 1)"]),
     (["--augment", "rotate"], ["unknown augmentation 'rotate'"]),
     (["--freeze", "no_such_layer"], ["--freeze 'no_such_layer': no such backbone layer"]),
     (["--mixed-precision", "on"], ["needs a GPU"])],
)
def test_fit_bad_input(tmp_path: Path, npz_path: Path, other_weights: Path, extra: list[str],
                       fragments: list[str]) -> None:
    extra = [str(other_weights) if e == "WEIGHTS" else e for e in extra]
    args = ["fit", "--data", str(npz_path), "--out", str(tmp_path / "r"), *TINY, *extra]
    _one_line_error(_run(args), *fragments)


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None,
                    reason="tensorboard is installed")
def test_tensorboard_without_package(tmp_path: Path, npz_path: Path) -> None:
    result = _run(["fit", "--data", str(npz_path), "--out", str(tmp_path / "r"), *TINY,
                   "--tensorboard"])
    _one_line_error(result, "--tensorboard needs the tensorboard package")
    assert not (tmp_path / "r").exists()


def test_fit_missing_data(tmp_path: Path) -> None:
    result = _run(["fit", "--data", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "r"),
                   *TINY])
    _one_line_error(result, "data not found", "nope.npz")


def test_fit_npz_with_wrong_keys(tmp_path: Path, bad_npz: Path) -> None:
    _one_line_error(_run(["fit", "--data", str(bad_npz), "--out", str(tmp_path / "r"), *TINY]),
                    str(bad_npz))


def test_fit_labels_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "r.npz"
    np.savez(path, x=np.zeros((8, 8, 8, 3), np.uint8), y=np.array([0, 1, 2, 3, 0, 1, 2, 9]),
             labels=np.array(["a", "b", "c", "d"]))
    _one_line_error(_run(["fit", "--data", str(path), "--out", str(tmp_path / "o"), *TINY]),
                    "labels out of range")


def test_fit_empty_class_folder(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "imgs", n_per_class=3, classes=3)
    (tmp_path / "imgs" / "zzz_empty").mkdir()
    result = _run(["fit", "--data", str(tmp_path / "imgs"), "--out", str(tmp_path / "o"), *TINY])
    _one_line_error(result, "zzz_empty")
    assert not (tmp_path / "o").exists()


def test_corrupt_images_are_skipped_and_counted(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "imgs", n_per_class=4, classes=2)
    write_corrupt_files(tmp_path / "imgs" / "class00")
    result = _run(["fit", "--data", str(tmp_path / "imgs"), "--out", str(tmp_path / "o"), *TINY,
                   "--val-split", "0.5"])
    assert result.exit_code == 0, result.output
    assert "skipped 3 unreadable images" in result.stdout
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["skipped_images"] == 3


def test_fit_existing_out(tmp_path: Path, small_cnn_run: Any, npz_path: Path) -> None:
    result = _run(["fit", "--data", str(npz_path), "--out", str(small_cnn_run.run_dir), *TINY])
    _one_line_error(result, "already exists; pass --overwrite")


def test_resume_without_run(tmp_path: Path) -> None:
    _one_line_error(_run(["fit", "--data", "x", "--out", str(tmp_path), "--resume"]),
                    "cannot read")


def test_evaluate_missing_model(tmp_path: Path, npz_path: Path) -> None:
    _one_line_error(_run(["evaluate", str(tmp_path), "--data", str(npz_path)]), "no model at")


def test_debug_shows_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["fit", "--data", str(tmp_path / "nope.npz"), "--out",
                                 str(tmp_path / "r"), "--debug", *TINY])
    assert result.exit_code == 1
    assert result.exception is not None and "data not found" in str(result.exception)


@pytest.mark.parametrize(("extra", "fragments"), [
    (["--time-budget", "10m"], ["give --epochs or --time-budget, not both"]),
    (["--recipe", "fastest"], ["--recipe: unknown recipe 'fastest'", "mobilenet-finetune"]),
])
def test_recipe_flags_bad_input(tmp_path: Path, npz_path: Path, extra: list[str],
                                fragments: list[str]) -> None:
    args = ["fit", "--data", str(npz_path), "--out", str(tmp_path / "r"), *TINY, *extra]
    _one_line_error(_run(args), *fragments)


def test_bad_time_budget_is_one_line(tmp_path: Path, npz_path: Path) -> None:
    args = ["fit", "--data", str(npz_path), "--out", str(tmp_path / "r"), "--backbone",
            "small_cnn", "--weights", "none", "--quiet", "--time-budget", "soon"]
    _one_line_error(_run(args), "--time-budget: 'soon' is not a duration")


def test_the_recipe_is_printed_and_saved_and_a_flag_overrides_it(tmp_path: Path,
                                                                  npz_path: Path) -> None:
    out = tmp_path / "run"
    result = _run(["fit", "--data", str(npz_path), "--out", str(out), "--backbone", "small_cnn",
                   "--weights", "none", "--recipe", "mobilenet-finetune", "--image-size", "32",
                   "--epochs", "1", "--val-split", "0.25", "--quiet"])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("recipe mobilenet-finetune: ")
    assert "label_smoothing 0.1" in first and "overridden: --image-size 32" in first
    saved = (out / "config.yaml").read_text()
    assert "recipe: mobilenet-finetune" in saved and "label_smoothing: 0.1" in saved
    assert "image_size: 32" in saved and "\nepochs: 1\n" in saved


def test_without_weights_the_plain_defaults_are_said(tmp_path: Path, npz_path: Path) -> None:
    result = _run(["fit", "--data", str(npz_path), "--out", str(tmp_path / "r"), *TINY])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("recipe none: plain defaults")


def test_micro_batches_accumulate_to_the_batch(tmp_path: Path, npz_path: Path) -> None:
    out = tmp_path / "run"
    args = ["fit", "--data", str(npz_path), "--out", str(out), "--backbone", "small_cnn",
            "--weights", "none", "--epochs", "1", "--batch-size", "16", "--micro-batch-size",
            "8", "--val-split", "0.25", "--quiet"]
    result = _run(args)
    assert result.exit_code == 0, result.output
    saved = (out / "config.yaml").read_text()
    assert "batch_size: 16" in saved and "micro_batch_size: 8" in saved
    from trainer.checkpoint import load_checkpoint

    model, _ = load_checkpoint(out / "checkpoints")
    assert model.optimizer.gradient_accumulation_steps == 2
    # 48 training images in micro-batches of 8: 6 steps, 3 optimizer updates
    assert int(model.optimizer.iterations.numpy()) == 3


@pytest.mark.parametrize(("value", "fragment"), [
    ("5", "--micro-batch-size 5 must divide --batch-size 16"),
    ("some", "--micro-batch-size 'some': accepted: auto or a whole number"),
])
def test_bad_micro_batch_size(tmp_path: Path, npz_path: Path, value: str, fragment: str) -> None:
    args = ["fit", "--data", str(npz_path), "--out", str(tmp_path / "r"), *TINY,
            "--micro-batch-size", value]
    _one_line_error(_run(args), fragment)
