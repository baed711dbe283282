"""Sizing a run's epochs: by the recipe (training images seen) or by ``--time-budget``.

``--time-budget T`` measures this machine before training: a few training steps and a few
evaluation steps of the real model on the real pipeline (the weights and the optimizer are
put back afterwards, so the run itself is unchanged), then picks the largest epoch count whose
estimated wall time (start-up so far + epochs x (training steps + validation steps) + the
final evaluation and saving) fits in T. The chosen count is logged and saved as ``epochs`` in
``config.yaml``, so the run can be repeated exactly with ``--epochs N`` on any machine.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["StepTimes", "process_elapsed", "measure_step_times", "epochs_for_budget",
           "FINAL_OVERHEAD_S", "MAX_BUDGET_EPOCHS"]

log = logging.getLogger(__name__)

# Saving model.keras, samples, plots and metrics after the final evaluation (measured ~5-8 s
# on 2 cores for MobileNet alpha 0.25; the evaluations themselves are estimated per step).
FINAL_OVERHEAD_S = 10.0
# Per-epoch cost besides the steps: the checkpoint (.keras with optimizer state), callbacks.
EPOCH_OVERHEAD_S = 1.5
# A budget far larger than the data needs stops here (a small dataset would otherwise get
# thousands of epochs); --epochs N trains more.
MAX_BUDGET_EPOCHS = 100


@dataclass(frozen=True)
class StepTimes:
    """Seconds per training step and per evaluation step of one batch."""

    train: float
    evaluate: float


def process_elapsed() -> float:
    """Seconds since this process started (Linux ``/proc``; 0 where unavailable)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 of stat(5), after pid and comm
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        import os

        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def measure_step_times(model: Any, train_ds: Any, val_ds: Any, *, steps: int = 12,
                       warmup: int = 4) -> StepTimes:
    """Time ``steps`` training steps (after ``warmup``) and as many evaluation steps of
    ``model`` on the datasets. The model's weights are restored, and so is the optimizer's
    state if it had one (an optimizer not built yet is left built: re-compile the model to
    start from a fresh one, as ``fit`` does)."""
    import keras

    weights = [v.numpy() for v in model.weights]
    opt_vars = [v.numpy() for v in model.optimizer.variables] if model.optimizer.built else []
    stamps: list[float] = []

    class _Stamp(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            stamps.append(time.perf_counter())

        def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
            stamps.append(time.perf_counter())

    model.fit(train_ds.take(warmup + steps), epochs=1, verbose=0, shuffle=False,
              callbacks=[_Stamp()])
    train = (stamps[-1] - stamps[warmup - 1]) / steps
    stamps.clear()
    model.evaluate(val_ds.repeat().take(warmup + steps), verbose=0, callbacks=[_Stamp()])
    evaluate = (stamps[-1] - stamps[warmup - 1]) / steps
    for var, value in zip(model.weights, weights, strict=True):
        var.assign(value)
    if opt_vars:
        for var, value in zip(model.optimizer.variables, opt_vars, strict=True):
            var.assign(value)
    return StepTimes(train=train, evaluate=evaluate)


def epochs_for_budget(budget_s: float, elapsed_s: float, times: StepTimes, *,
                      train_steps: int, val_steps: int, final_eval_steps: int) -> int:
    """The most epochs whose estimated wall time fits ``budget_s`` (at least 1)."""
    per_epoch = (train_steps * times.train + val_steps * times.evaluate + EPOCH_OVERHEAD_S)
    final = final_eval_steps * times.evaluate + FINAL_OVERHEAD_S
    left = budget_s - elapsed_s - final
    epochs = math.floor(left / per_epoch) if per_epoch > 0 else 1
    if epochs > MAX_BUDGET_EPOCHS:
        log.info("--time-budget %.0f s would fit %d epochs; training at most %d (--epochs N "
                 "trains more)", budget_s, epochs, MAX_BUDGET_EPOCHS)
        epochs = MAX_BUDGET_EPOCHS
    log.info("--time-budget %.0f s: %.1f s used so far, %.1f s per epoch (%.1f ms per "
             "training step, %.1f ms per evaluation step), %.1f s to finish: %d epochs",
             budget_s, elapsed_s, per_epoch, times.train * 1e3, times.evaluate * 1e3, final,
             max(1, epochs))
    if epochs < 1:
        log.warning("--time-budget %.0f s is too short for one epoch here (%.0f s per epoch "
                    "after %.0f s of start-up): training 1 epoch", budget_s, per_epoch,
                    elapsed_s)
    return max(1, epochs)
