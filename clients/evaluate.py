"""``clients evaluate``: accuracy and confusion matrix of a served model on labelled images.

True labels come from an ``.npz`` ``y`` (class ids) or from class sub-directory names
(matched to the model's class names: ``labels.txt`` next to the data, else the names the
server's ``top_k_classes`` output revealed).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clients.base import PredictClient
from clients.images import ImageSet
from clients.prepare import Mode
from common.atomic import write_bytes as atomic_write_bytes

__all__ = ["EvalResult", "evaluate", "write_eval_json", "write_confusion_png"]


@dataclass
class EvalResult:
    """Accuracy over ``count`` images; ``confusion[true, predicted]`` counts."""

    count: int
    correct: int
    confusion: np.ndarray
    class_names: list[str]
    mode: str
    skipped: list[tuple[str, str]]

    @property
    def accuracy(self) -> float:
        """Top-1 accuracy in [0, 1]."""
        return self.correct / self.count if self.count else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"count": self.count, "correct": self.correct, "accuracy": self.accuracy,
                "mode": self.mode, "class_names": self.class_names,
                "confusion": self.confusion.tolist(),
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped]}


def _true_ids(images: ImageSet, names: dict[int, str]) -> list[int]:
    by_name = {n: i for i, n in names.items()}
    out = []
    for name, tid, tname in zip(images.names, images.true_ids, images.true_names, strict=True):
        if tid is not None:
            out.append(tid)
        elif tname is not None and tname in by_name:
            out.append(by_name[tname])
        elif tname is not None:
            raise ValueError(f"{name}: class directory {tname!r} is not a class of the model "
                             f"(known: {sorted(by_name)})")
        else:
            raise ValueError(f"{name} has no true label; evaluate needs an .npz with 'y' or "
                             "a directory of class sub-directories")
    return out


def evaluate(client: PredictClient, images: ImageSet, mode: Mode | str = Mode.CLIENT_RESIZE,
             batch_size: int = 64) -> EvalResult:
    """Predict every image through ``client`` and compare top-1 with the true labels."""
    if not len(images):
        raise ValueError("no readable images to evaluate")
    preds = client.predict(images.items, top_k=1, mode=mode, return_probabilities=True,
                           batch_size=batch_size)
    num_classes = len(preds[0].probabilities) if preds[0].probabilities is not None else 0
    names = dict(client.class_names)
    for i, n in enumerate(images.class_names or []):
        names.setdefault(i, n)
    truth = _true_ids(images, names)
    num_classes = max(num_classes, max(truth) + 1)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for t, p in zip(truth, preds, strict=True):
        confusion[t, p.class_ids[0]] += 1
    class_names = [names.get(i, str(i)) for i in range(num_classes)]
    return EvalResult(count=len(truth), correct=int(np.trace(confusion)), confusion=confusion,
                      class_names=class_names, mode=str(Mode(mode).value),
                      skipped=list(images.skipped))


def write_eval_json(path: Path, result: EvalResult) -> None:
    """The result as JSON (atomically)."""
    atomic_write_bytes(path, json.dumps(result.to_dict(), indent=2).encode())


def write_confusion_png(path: Path, result: EvalResult) -> None:
    """A confusion-matrix heat map (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(result.class_names)
    fig, ax = plt.subplots(figsize=(max(4, n * 0.6), max(4, n * 0.6)))
    ax.imshow(result.confusion, cmap="Blues")
    ax.set_xticks(range(n), result.class_names, rotation=90, fontsize=7)
    ax.set_yticks(range(n), result.class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"accuracy {result.accuracy:.2%} on {result.count} images ({result.mode})")
    for (i, j), v in np.ndenumerate(result.confusion):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=6)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
