"""``--time-budget``: the arithmetic, the measurement leaves the model as it was, and a run
sized by a budget records its epochs; ``--ema`` ends a run with the averaged weights."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.trainer.conftest import fit_kwargs
from trainer.budget import (
    EPOCH_OVERHEAD_S,
    FINAL_OVERHEAD_S,
    StepTimes,
    epochs_for_budget,
    measure_step_times,
    process_elapsed,
)


def test_epochs_fill_the_budget() -> None:
    times = StepTimes(train=0.1, evaluate=0.05)
    per_epoch = 100 * 0.1 + 10 * 0.05 + EPOCH_OVERHEAD_S
    final = 30 * 0.05 + FINAL_OVERHEAD_S
    expected = int((600 - 60 - final) // per_epoch)
    assert epochs_for_budget(600, 60, times, train_steps=100, val_steps=10,
                             final_eval_steps=30) == expected


def test_a_budget_shorter_than_one_epoch_trains_one_and_says_so(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="trainer.budget"):
        got = epochs_for_budget(20, 15, StepTimes(train=1.0, evaluate=0.5), train_steps=100,
                                val_steps=10, final_eval_steps=30)
    assert got == 1
    assert "--time-budget 20 s is too short for one epoch here" in caplog.text


def test_process_elapsed_counts_from_process_start() -> None:
    assert 0 < process_elapsed() < 24 * 3600


def test_measuring_leaves_weights_and_optimizer_unchanged() -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2, use_ema=True),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(64) % 3]
    model.fit(x, y, epochs=1, verbose=0)  # optimizer state exists and is not zero
    before = [v.numpy().copy() for v in model.weights + model.optimizer.variables]
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat()
    times = measure_step_times(model, ds, ds.take(8), steps=5, warmup=2)
    assert times.train > 0 and times.evaluate > 0
    after = [v.numpy() for v in model.weights + model.optimizer.variables]
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_budget_larger_than_needed_stops_at_the_cap(
        caplog: pytest.LogCaptureFixture) -> None:
    from trainer.budget import MAX_BUDGET_EPOCHS

    with caplog.at_level(logging.INFO, logger="trainer.budget"):
        got = epochs_for_budget(3600, 5, StepTimes(train=0.01, evaluate=0.01), train_steps=3,
                                val_steps=1, final_eval_steps=3)
    assert got == MAX_BUDGET_EPOCHS
    assert f"training at most {MAX_BUDGET_EPOCHS}" in caplog.text


def test_a_budget_run_records_the_epochs_it_chose(npz_path: Path, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import trainer.budget
    from trainer.config import make_config
    from trainer.fit import fit

    monkeypatch.setattr(trainer.budget, "MAX_BUDGET_EPOCHS", 3)  # tiny data: keep it short
    out = tmp_path / "budget"
    with caplog.at_level(logging.INFO, logger="trainer.budget"):
        result = fit(make_config(**fit_kwargs(npz_path, out=str(out), epochs=None,
                                              time_budget="1h")), verbose=0)
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["time_budget"] == 3600.0
    assert isinstance(saved["epochs"], int) and saved["epochs"] >= 1
    assert result.metrics["epochs_run"] == saved["epochs"]
    assert "--time-budget 3600 s:" in caplog.text and f": {saved['epochs']} epochs" in caplog.text


def test_ema_run_ends_with_the_averaged_weights(npz_path: Path, tmp_path: Path) -> None:
    import keras

    from trainer.config import make_config
    from trainer.fit import fit

    out = tmp_path / "ema"
    fit(make_config(**fit_kwargs(npz_path, out=str(out), ema=0.9)), verbose=0)
    final = keras.saving.load_model(out / "model.keras", safe_mode=True)
    raw = keras.saving.load_model(next((out / "checkpoints").glob("epoch-*.keras")),
                                  safe_mode=True)
    assert raw.optimizer.use_ema
    kernels = [(f, r) for f, r in zip(final.trainable_weights, raw.trainable_weights,
                                      strict=True)]
    assert any(not np.allclose(f.numpy(), r.numpy()) for f, r in kernels)
    # the final weights are the optimizer's moving average of the last epoch's weights
    averages = raw.optimizer._model_variables_moving_average
    for (f, _), avg in zip(kernels, averages, strict=True):
        np.testing.assert_allclose(f.numpy(), avg.numpy(), atol=1e-6)
