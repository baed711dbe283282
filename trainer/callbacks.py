"""The Keras callback that records a run as it trains: history, best model, early stopping,
resume checkpoints. Every file is written atomically at the end of each epoch."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import keras

from trainer.atomic import save_keras
from trainer.checkpoint import save_checkpoint
from trainer.run_dir import RunPaths, write_history

__all__ = ["RunState", "RunRecorder"]

log = logging.getLogger(__name__)


@dataclass
class RunState:
    """Progress of a run, saved with every checkpoint so ``--resume`` continues it."""

    epochs_done: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_val_accuracy: float | None = None
    best_val_loss: float | None = None
    best_epoch: int | None = None
    wait: int = 0  # epochs without improvement (early stopping)
    stopped_early: bool = False
    accuracy_before: float | None = None
    loss_before: float | None = None
    train_seconds: float = 0.0  # time in training steps (validation excluded)
    wall_seconds: float = 0.0  # time in fit, validation included
    phase: int = 1  # phase of the last finished epoch (2 = fine-tuning)
    checkpoint: str = "model"  # what the checkpoint holds: "model", or "head" (cached phase)
    feature_cache: dict[str, Any] | None = None  # the cached phase's report (metrics.json)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunState:
        """Rebuild from a checkpoint's state (unknown keys ignored)."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in names})


class RunRecorder(keras.callbacks.Callback):
    """Per epoch: append to ``history.csv`` (with the ``phase``), save ``best.keras`` on a new
    best validation accuracy, count early-stopping patience (``patience`` 0 = off) and
    checkpoint the model being trained. ``epoch_hook(epoch)`` runs last (tests use it to
    interrupt a run). When the model being trained is a head on cached features,
    ``full_model`` is the complete classifier: the head's weights are copied into it and it
    is what ``best.keras`` holds (a head alone is not a run's model)."""

    def __init__(self, paths: RunPaths, state: RunState, patience: int,
                 epoch_hook: Callable[[int], None] | None = None, *, phase: int = 1,
                 full_model: Any | None = None) -> None:
        super().__init__()
        self.paths, self.state, self.patience, self.epoch_hook = paths, state, patience, epoch_hook
        self.phase, self.full_model = phase, full_model
        self._start = self._train_end = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()
        self._train_end = 0.0

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._start and not self._train_end:
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        now = time.perf_counter()
        train_s = (self._train_end or now) - self._start
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row = {"epoch": epoch + 1}
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            row[key] = float(logs[key]) if key in logs else None
        row.update(lr=lr, train_time_s=round(train_s, 3), epoch_time_s=round(now - self._start, 3),
                   phase=self.phase)
        st = self.state
        st.history.append(row)
        st.epochs_done = epoch + 1
        st.phase = self.phase
        st.train_seconds += train_s
        st.wall_seconds += now - self._start
        write_history(self.paths, st.history)
        val_acc = row["val_accuracy"]
        improved = val_acc is not None and (st.best_val_accuracy is None
                                            or val_acc > st.best_val_accuracy)
        if improved:
            st.best_val_accuracy, st.best_val_loss = val_acc, row["val_loss"]
            st.best_epoch = epoch + 1
            st.wait = 0
            save_keras(self._complete_model(), self.paths.best)
        else:
            st.wait += 1
        if self.patience and st.wait >= self.patience:
            st.stopped_early = True
            self.model.stop_training = True
            log.info("early stopping after epoch %d: no better val accuracy for %d epochs",
                     epoch + 1, st.wait)
        save_checkpoint(self.model, self.paths.checkpoints, asdict(st))
        if self.epoch_hook is not None:
            self.epoch_hook(epoch)

    def _complete_model(self) -> Any:
        """The whole classifier as of now (the head's weights copied in when needed)."""
        if self.full_model is None:
            return self.model
        from trainer.feature_head import transplant_head

        transplant_head(self.model, self.full_model)
        return self.full_model


def recorder_callbacks(session: Any, phase: int, full_model: Any | None = None) -> list[Any]:
    """The run recorder (history, best, checkpoint) and, if asked, TensorBoard, for a
    ``trainer.phases.Session``."""
    callbacks: list[Any] = [RunRecorder(session.paths, session.state,
                                        session.config.early_stopping, session.epoch_hook,
                                        phase=phase, full_model=full_model)]
    if session.config.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(session.paths.tensorboard)))
    return callbacks
