"""End of a run: final model, validation metrics, ``metrics.json`` and plots."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer.atomic import save_keras, write_json
from trainer.callbacks import RunState
from trainer.inputs import FitData
from trainer.metrics import confusion_matrix, per_class_accuracy, top_k_accuracy
from trainer.model import param_counts
from trainer.plots import plot_confusion, plot_curves
from trainer.run_dir import RunPaths

__all__ = ["finish_run", "predict_probs"]


def predict_probs(model: Any, dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(probabilities, int labels)`` over a dataset of ``(images, labels)`` batches
    (labels int or one-hot)."""
    probs, labels = [], []
    for x, y in dataset:
        probs.append(np.asarray(model(x, training=False), dtype=np.float32))
        y = np.asarray(y)
        labels.append(y.argmax(axis=1) if y.ndim == 2 else y)
    return np.concatenate(probs), np.concatenate(labels).astype(np.int64)


def finish_run(model: Any, paths: RunPaths, data: FitData, val_ds: Any, state: RunState, *,
               precision: str, xla: bool, test: tuple[Any, str] | None = None
               ) -> dict[str, Any]:
    """Save ``model.keras``, evaluate on validation (and on the held-out ``test`` dataset,
    ``(dataset, description)``: the final model, never used for training or choosing
    epochs), write ``metrics.json`` and the plots; return the metrics."""
    save_keras(model, paths.model)
    probs, y = predict_probs(model, val_ds)
    labels = data.labels
    cm = confusion_matrix(y, probs.argmax(axis=1), len(labels))
    if state.history and state.history[-1]["val_loss"] is not None:
        val_loss = float(state.history[-1]["val_loss"])  # same loss as best_val_loss
    else:
        eps = np.finfo(np.float32).eps
        val_loss = float(-np.mean(np.log(np.maximum(probs[np.arange(len(y)), y], eps))))
    trainable, total = param_counts(model)
    images = len(data.train) * len(state.history)
    metrics = {
        "accuracy_before_training": state.accuracy_before,
        "loss_before_training": state.loss_before,
        "final_val_accuracy": float(np.mean(probs.argmax(axis=1) == y)),
        "final_val_loss": val_loss,
        "final_val_top5_accuracy": top_k_accuracy(probs, y, 5),
        "best_val_accuracy": state.best_val_accuracy,
        "best_val_loss": state.best_val_loss,
        "best_epoch": state.best_epoch,
        "epochs_run": state.epochs_done,
        "stopped_early": state.stopped_early,
        "per_class_accuracy": per_class_accuracy(cm, labels),
        "confusion_matrix": cm.tolist(),
        "train_time_s": round(state.wall_seconds, 3),
        "train_step_time_s": round(state.train_seconds, 3),
        "images_per_s": round(images / state.train_seconds, 2) if state.train_seconds else None,
        "trainable_params": trainable,
        "total_params": total,
        "num_train": len(data.train),
        "num_val": len(data.val),
        "skipped_images": data.skipped,
        "precision": precision,
        "xla": xla,
    }
    phase2 = [row["epoch"] for row in state.history if row.get("phase") == 2]
    if phase2:
        metrics["phase2_start_epoch"] = phase2[0]
    if state.feature_cache is not None:
        from trainer.cached_phase import with_speedup

        metrics["feature_cache"] = with_speedup(state.feature_cache, state.history,
                                                len(data.train))
    if test is not None:
        from trainer.heldout import score_test

        test_probs, test_y = predict_probs(model, test[0])
        metrics["test"] = score_test(test_probs, test_y, test[1])
    if state.history:
        plot_curves(state.history, "loss", paths.loss_png)
        plot_curves(state.history, "accuracy", paths.accuracy_png)
    plot_confusion(cm, labels, paths.confusion_png, "validation confusion matrix")
    write_json(paths.metrics, metrics)  # last: a run with metrics.json is complete
    return metrics
