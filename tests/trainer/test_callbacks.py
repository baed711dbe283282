"""RunRecorder: history, best model, early stopping and checkpoints per epoch, driven with
given validation results (no training)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from trainer.callbacks import RunRecorder, RunState
from trainer.run_dir import RunPaths


@pytest.fixture()
def tiny_model() -> Any:
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy")
    return model


def _drive(recorder: RunRecorder, model: Any, accuracies: list[float]) -> None:
    recorder.set_model(model)
    for epoch, acc in enumerate(accuracies):
        recorder.on_epoch_begin(epoch)
        recorder.on_test_begin()
        recorder.on_epoch_end(epoch, {"loss": 1.0, "accuracy": 0.5, "val_loss": 1.0 - acc,
                                      "val_accuracy": acc})
        if model.stop_training:
            break


def test_best_model_and_early_stopping(tmp_path: Path, tiny_model: Any) -> None:
    paths = RunPaths(tmp_path)
    state = RunState()
    _drive(RunRecorder(paths, state, patience=2), tiny_model, [0.5, 0.6, 0.6, 0.55, 0.9])
    assert state.epochs_done == 4 and state.stopped_early
    assert (state.best_epoch, state.best_val_accuracy) == (2, 0.6)
    assert state.best_val_loss == pytest.approx(0.4)
    assert paths.best.is_file()
    with open(paths.history) as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    assert float(rows[0]["lr"]) == pytest.approx(0.01)
    saved = json.loads((paths.checkpoints / "state.json").read_text())
    assert saved["epochs_done"] == 4 and saved["model_file"] == "epoch-0004.keras"
    assert [p.name for p in paths.checkpoints.glob("*.keras")] == ["epoch-0004.keras"]
    assert RunState.from_dict(saved) == state


def test_no_early_stopping_without_patience(tmp_path: Path, tiny_model: Any) -> None:
    state = RunState()
    _drive(RunRecorder(RunPaths(tmp_path), state, patience=0), tiny_model, [0.5, 0.4, 0.3])
    assert state.epochs_done == 3 and not state.stopped_early and state.wait == 2
