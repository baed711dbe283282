"""Classification metrics on numpy arrays: top-k accuracy, confusion matrix, per-class
accuracy."""

from __future__ import annotations

import numpy as np

__all__ = ["top_k_accuracy", "confusion_matrix", "per_class_accuracy", "wilson_interval"]


def top_k_accuracy(probs: np.ndarray, y: np.ndarray, k: int) -> float:
    """Fraction of rows whose true class is among the ``k`` highest scores
    (``k`` is capped at the number of classes)."""
    if len(y) == 0:
        return float("nan")
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == np.asarray(y)[:, None], axis=1)))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``cm[i, j]`` = number of class-``i`` images predicted as ``j`` (int64)."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


def per_class_accuracy(cm: np.ndarray, labels: list[str]) -> dict[str, float | None]:
    """Recall of each class from a confusion matrix (None for a class without images)."""
    totals = cm.sum(axis=1)
    return {
        label: (float(cm[i, i] / totals[i]) if totals[i] else None)
        for i, label in enumerate(labels)
    }


def wilson_interval(correct: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval of a proportion ``correct / n`` (95 % for the default ``z``);
    ``(nan, nan)`` for ``n == 0``."""
    if n <= 0:
        return float("nan"), float("nan")
    p = correct / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
