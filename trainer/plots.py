"""Training plots (matplotlib, Agg backend), each written atomically as PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainer.atomic import write_with

__all__ = ["plot_curves", "plot_confusion"]


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    plt = _figure()
    write_with(path, lambda p: fig.savefig(p, format="png", dpi=100, bbox_inches="tight"))
    plt.close(fig)


def plot_curves(rows: Sequence[dict[str, float]], metric: str, path: Path) -> None:
    """Train and validation ``metric`` (``loss`` or ``accuracy``) per epoch from history
    rows (keys ``epoch``, ``metric``, ``val_<metric>``, optional ``phase``); a dotted line
    marks where phase 2 (fine-tuning) starts."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [int(r["epoch"]) for r in rows]
    for key, name in ((metric, "train"), (f"val_{metric}", "validation")):
        values = [r.get(key) for r in rows]
        if any(v is not None for v in values):
            ax.plot(epochs, values, marker="o", label=name)
    phase2 = [int(r["epoch"]) for r in rows if r.get("phase") == 2]
    if phase2 and phase2[0] > epochs[0]:
        ax.axvline(phase2[0] - 0.5, color="gray", ls=":", lw=1.5, label="phase 2 (fine-tune)")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(metric)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)


def plot_confusion(cm: np.ndarray, labels: Sequence[str], path: Path, title: str) -> None:
    """Confusion matrix heat map (rows: true class, columns: predicted)."""
    plt = _figure()
    n = len(labels)
    size = min(4 + 0.4 * n, 24)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), labels=list(labels), rotation=90)
    ax.set_yticks(range(n), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 20:
        peak = cm.max() if cm.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if peak and cm[i, j] > peak / 2 else "black")
    _save(fig, path)
