"""CIFAR-100 as the shared data ships it (a .npz with ``y``, ``y_coarse`` and ``index`` beside
``labels.txt`` / ``coarse_labels.txt``), the ``cifar10:test`` split syntax, and ``trainer
evaluate`` meaning the test split of a named data set. Tiny generated files only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.trainer.conftest import fit_kwargs
from tests.trainer.data_factory import make_arrays
from trainer.cli import app
from trainer.data import load_source, same_source, select_classes
from trainer.errors import DataError

FINE = [f"fine{i}" for i in range(6)]
COARSE = ["group_a", "group_b"]


def write_cifar100_npz(folder: Path, n_per_class: int = 6, labels: bool = True) -> Path:
    """``train.npz`` with 6 fine classes in 2 superclasses (fine i -> coarse i // 3)."""
    folder.mkdir(parents=True, exist_ok=True)
    x, y, _ = make_arrays(n_per_class, len(FINE), size=32)
    path = folder / "train.npz"
    np.savez(path, x=x, y=y.astype(np.uint8), y_coarse=(y // 3).astype(np.uint8),
             index=np.arange(len(y), dtype=np.int32))
    if labels:
        (folder / "labels.txt").write_text("\n".join(FINE) + "\n")
        (folder / "coarse_labels.txt").write_text("\n".join(COARSE) + "\n")
    return path


def test_fine_and_coarse_labels_with_names_from_the_label_files(tmp_path: Path) -> None:
    path = write_cifar100_npz(tmp_path / "c100")
    fine = load_source(str(path))
    coarse = load_source(str(path), label_mode="coarse")
    assert fine.labels == FINE and coarse.labels == COARSE
    np.testing.assert_array_equal(coarse.y, fine.y // 3)
    np.testing.assert_array_equal(coarse.x, fine.x)


def test_classes_by_name_or_index(tmp_path: Path) -> None:
    ds = load_source(str(write_cifar100_npz(tmp_path / "c100")))
    by_name = select_classes(ds, ["fine4", "fine1"])
    by_index = select_classes(ds, ["4", "1"])
    assert by_name.labels == by_index.labels == ["fine4", "fine1"]
    np.testing.assert_array_equal(by_name.y, by_index.y)
    np.testing.assert_array_equal(by_name.x[by_name.y == 0], ds.x[ds.y == 4])


def test_coarse_without_y_coarse_is_one_clear_error(tmp_path: Path) -> None:
    x, y, _ = make_arrays(2, 3, size=8)
    np.savez(tmp_path / "plain.npz", x=x, y=y)
    with pytest.raises(DataError, match="needs a y_coarse array"):
        load_source(str(tmp_path / "plain.npz"), label_mode="coarse")
    with pytest.raises(DataError, match="has no train/test splits"):
        load_source(f"{tmp_path / 'plain.npz'}:test")


def test_coarse_names_default_to_indices_without_a_label_file(tmp_path: Path) -> None:
    path = write_cifar100_npz(tmp_path / "bare", labels=False)
    assert load_source(str(path), label_mode="coarse").labels == ["0", "1"]


def test_named_split_syntax_and_default_split(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    x, y, _ = make_arrays(2, 10, 32)
    xt, yt, _ = make_arrays(1, 10, 32, seed=1)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data",
                        lambda: ((x, y[:, None]), (xt, yt[:, None])))
    np.testing.assert_array_equal(load_source("cifar10:test").x, xt)
    np.testing.assert_array_equal(load_source("cifar10:train").x, x)
    np.testing.assert_array_equal(load_source("cifar10", default_split="test").x, xt)
    assert load_source("cifar10:test").source == "cifar10:test"
    assert same_source("cifar10", "cifar10:train")
    assert not same_source("cifar10", "cifar10:test")
    assert same_source("cifar100:test", "cifar100", default_split="test")


def test_evaluate_named_dataset_uses_its_test_split(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    """A model evaluated with ``--data cifar10`` is scored on the test images, and
    ``cifar10:train`` must be asked for explicitly."""
    import keras

    from trainer.config import make_config
    from trainer.fit import fit

    x, y, _ = make_arrays(4, 10, 32)
    xt, yt, _ = make_arrays(2, 10, 32, seed=1)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data",
                        lambda: ((x, y[:, None]), (xt, yt[:, None])))
    run = tmp_path / "run"
    fit(make_config(**fit_kwargs("cifar10", out=str(run), epochs=1, batch_size=8)), verbose=0)
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", str(run), "--data", "cifar10"])
    assert result.exit_code == 0, result.output
    scored = json.loads((run / "eval_metrics.json").read_text())
    assert scored["num_images"] == 20 and "cifar10:test" in result.output
    result = runner.invoke(app, ["evaluate", str(run), "--data", "cifar10:train"])
    assert result.exit_code == 0, result.output
    assert json.loads((run / "eval_metrics.json").read_text())["num_images"] == 40


def test_fit_refuses_val_data_equal_to_training_data(tmp_path: Path) -> None:
    path = write_cifar100_npz(tmp_path / "c100")
    result = CliRunner().invoke(app, ["fit", "--data", str(path), "--val-data", str(path),
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "is the training data" in errors[0]
    assert "Traceback" not in result.stderr


def test_fit_coarse_run_has_superclass_names(tmp_path: Path) -> None:
    from trainer.config import make_config
    from trainer.fit import fit

    path = write_cifar100_npz(tmp_path / "c100", n_per_class=8)
    out = tmp_path / "run"
    fit(make_config(**fit_kwargs(path, out=str(out), label_mode="coarse", epochs=1)),
        verbose=0)
    assert json.loads((out / "model.json").read_text())["labels"] == COARSE
    assert (out / "labels.txt").read_text().split() == COARSE
