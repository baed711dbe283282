"""Held-out test images (``--test-split`` / ``--test-data``): the stratified seeded split,
the Wilson interval, the ``test`` block of metrics.json, re-scoring with ``trainer evaluate
--test-split``, resume safety, and the refusals (test or validation data = training data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.trainer.conftest import fit_kwargs
from tests.trainer.data_factory import make_arrays, write_npz
from trainer.cli import app
from trainer.config import make_config
from trainer.data import ImageSet, held_out_counts, stratified_holdout, stratified_split
from trainer.errors import DataError, TrainerError
from trainer.metrics import wilson_interval


def _set(n_per_class: int = 10, classes: int = 4) -> ImageSet:
    x, y, names = make_arrays(n_per_class, classes, size=8)
    return ImageSet(labels=names, y=y, x=x)


def test_fraction_is_per_class_and_seeded() -> None:
    ds = _set(10, 4)
    rest, held, index = stratified_holdout(ds, 0.2, seed=5)
    assert np.bincount(held.y).tolist() == [2, 2, 2, 2]
    assert len(rest) + len(held) == len(ds)
    again = stratified_holdout(ds, 0.2, seed=5)[2]
    other = stratified_holdout(ds, 0.2, seed=6)[2]
    assert np.array_equal(index, again)
    assert not np.array_equal(index, other)
    assert np.array_equal(held.x, ds.x[index])
    remaining = np.setdiff1d(np.arange(len(ds)), index)
    assert np.array_equal(rest.x, ds.x[remaining])


def test_count_spreads_evenly_and_remainder_goes_first() -> None:
    ds = _set(10, 4)
    assert held_out_counts(ds, 10).tolist() == [3, 3, 2, 2]
    _, held, _ = stratified_holdout(ds, 8, seed=0)
    assert np.bincount(held.y).tolist() == [2, 2, 2, 2]


def test_holdout_draws_differ_from_the_validation_split() -> None:
    """Same seed, separate random streams: the test split is not the validation split."""
    ds = _set(20, 2)
    _, val = stratified_split(ds, 0.25, seed=1)
    _, held, _ = stratified_holdout(ds, 0.25, seed=1)
    assert not np.array_equal(val.x, held.x)


@pytest.mark.parametrize("amount, fragment", [(2, "smaller than the number of classes"),
                                              (2.5, "whole number"),
                                              (40, "leaves none to train on")])
def test_bad_amounts(amount: float, fragment: str) -> None:
    with pytest.raises(DataError, match=fragment):
        held_out_counts(_set(10, 4), amount)


def test_wilson_interval() -> None:
    low, high = wilson_interval(81, 100)
    assert low == pytest.approx(0.7222, abs=1e-4)
    assert high == pytest.approx(0.8749, abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert all(np.isnan(wilson_interval(0, 0)))


@pytest.mark.parametrize("overrides, fragment", [
    ({"val_data": "SELF"}, "--val-data"),
    ({"val_data": "SELF_DOTTED"}, "--val-data"),
    ({"test_data": "SELF"}, "--test-data"),
    ({"test_split": 0.1, "test_data": "OTHER"}, "not both"),
    ({"test_split": 1.5}, "--test-split"),
])
def test_config_refusals(npz_path: Path, overrides: dict, fragment: str) -> None:
    other = npz_path.parent / "other.npz"
    names = {"SELF": str(npz_path), "OTHER": str(other),
             "SELF_DOTTED": str(npz_path.parent / "." / npz_path.name)}
    values = {k: names.get(v, v) if isinstance(v, str) else v for k, v in overrides.items()}
    with pytest.raises(TrainerError, match=fragment):
        make_config(**fit_kwargs(npz_path, out="x", **values))


def test_named_dataset_splits_are_distinct_sources(npz_path: Path) -> None:
    with pytest.raises(TrainerError, match="is the training data"):
        make_config(**fit_kwargs("cifar10", out="x", val_data="cifar10:train"))
    config = make_config(**fit_kwargs("cifar10", out="x", val_data="cifar10:test"))
    assert config.val_data == "cifar10:test"


@pytest.fixture(scope="module")
def held_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trainer.fit import fit

    data = tmp_path_factory.mktemp("held") / "d.npz"
    write_npz(data, n_per_class=16, classes=4, size=32, seed=0)
    out = tmp_path_factory.mktemp("runs") / "held"
    fit(make_config(**fit_kwargs(data, out=str(out), test_split=8, epochs=1)), verbose=0)
    return out


def test_fit_scores_final_model_on_held_out_split(held_run: Path) -> None:
    metrics = json.loads((held_run / "metrics.json").read_text())
    test = metrics["test"]
    assert test["num_images"] == 8
    assert metrics["num_train"] + metrics["num_val"] + test["num_images"] == 64
    assert test["accuracy"] == test["correct"] / 8
    assert test["ci95"][0] <= test["accuracy"] <= test["ci95"][1]
    assert test["ci_method"] == "wilson" and "--test-split 8" in test["source"]
    with np.load(held_run / "test_split.npz") as saved:
        assert saved["index"].shape == (8,)
        assert np.bincount(saved["y"]).tolist() == [2, 2, 2, 2]


def test_held_out_images_never_reach_training_or_validation(held_run: Path) -> None:
    from trainer.config import load_config
    from trainer.inputs import prepare_data

    data = prepare_data(load_config(held_run / "config.yaml"))
    assert data.test is not None and data.train.x is not None and data.val.x is not None
    flat = {bytes(img) for img in data.test.x.reshape(len(data.test), -1)}
    for part in (data.train, data.val):
        assert not flat & {bytes(img) for img in part.x.reshape(len(part), -1)}


def test_evaluate_rescores_exactly_the_split(held_run: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", str(held_run), "--test-split", "--out",
                                      str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    saved = json.loads((held_run / "metrics.json").read_text())["test"]
    scored = json.loads((tmp_path / "eval_metrics.json").read_text())
    assert scored["num_images"] == saved["num_images"]
    assert scored["top1_accuracy"] == pytest.approx(saved["accuracy"])
    assert scored["top1_ci95"] == pytest.approx(saved["ci95"])
    assert "95% CI" in result.output


def test_evaluate_needs_data_or_split(held_run: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", str(held_run)])
    assert result.exit_code == 1
    assert "--data SOURCE or --test-split" in result.stderr


def test_resume_keeps_the_split_and_refuses_a_changed_one(tmp_path: Path) -> None:
    from trainer.fit import fit, resume_config

    data = tmp_path / "d.npz"
    write_npz(data, n_per_class=16, classes=4, size=32, seed=0)
    out = tmp_path / "run"
    fit(make_config(**fit_kwargs(data, out=str(out), test_split=0.125, epochs=1)), verbose=0)
    with np.load(out / "test_split.npz") as saved:
        first = saved["index"].copy()
    result = fit(resume_config(out, 2), resume=True, verbose=0)
    assert result.metrics["epochs_run"] == 2
    with np.load(out / "test_split.npz") as saved:
        assert np.array_equal(saved["index"], first)
    np.savez(out / "test_split.npz", index=first[::-1].copy() + 1, y=np.zeros(8, np.int64))
    with pytest.raises(TrainerError, match="no longer matches"):
        fit(resume_config(out, 3), resume=True, verbose=0)


def test_test_data_source(tmp_path: Path) -> None:
    from trainer.fit import fit

    train, test = tmp_path / "a" / "train.npz", tmp_path / "b" / "test.npz"
    train.parent.mkdir()
    test.parent.mkdir()
    write_npz(train, n_per_class=12, classes=4, size=32, seed=0)
    write_npz(test, n_per_class=3, classes=4, size=32, seed=9)
    result = fit(make_config(**fit_kwargs(train, out=str(tmp_path / "run"),
                                          test_data=str(test), epochs=1)), verbose=0)
    assert result.metrics["test"]["num_images"] == 12
    assert result.metrics["test"]["source"] == f"--test-data {test}"
    assert not (tmp_path / "run" / "test_split.npz").exists()
