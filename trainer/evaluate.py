"""``evaluate(run_dir_or_model, data) -> EvalResult``: top-1/top-5, per-class accuracy and a
confusion matrix (JSON + PNG) of a trained model on a labelled data set."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainer.atomic import savez, write_json
from trainer.data import ImageSet
from trainer.errors import DataError, ModelError
from trainer.metrics import confusion_matrix, per_class_accuracy, top_k_accuracy

__all__ = ["EvalResult", "evaluate", "resolve_model", "TTA_MODES"]

TTA_MODES = ("none", "flip")

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    """Evaluation of one model on one data set; ``files`` are the written outputs."""

    model: str
    data: str
    num_images: int
    top1: float
    top5: float
    top_k: int
    per_class: dict[str, float | None]
    confusion: np.ndarray
    labels: list[str]
    files: list[str] = field(default_factory=list)
    ci95: tuple[float, float] = (float("nan"), float("nan"))
    tta: str = "none"

    def to_json(self) -> dict[str, Any]:
        """The ``eval_metrics.json`` content."""
        return {"model": self.model, "data": self.data, "num_images": self.num_images,
                "top1_accuracy": self.top1, "top1_ci95": list(self.ci95),
                "ci_method": "wilson", "top5_accuracy": self.top5, "top_k": self.top_k,
                "tta": self.tta,
                "per_class_accuracy": self.per_class}


def resolve_model(target: str | Path) -> tuple[Path, dict[str, Any] | None]:
    """``(model file, model.json content or None)`` for a run directory or a ``.keras``."""
    path = Path(target)
    model_path = path / "model.keras" if path.is_dir() else path
    if not model_path.is_file():
        raise ModelError(f"no model at {target}: pass a run directory (with model.keras) "
                         "or a .keras file")
    card_path = model_path.parent / "model.json"
    card = None
    if card_path.is_file():
        try:
            card = json.loads(card_path.read_text())
        except ValueError:
            raise ModelError(f"{card_path} is not valid JSON") from None
    return model_path, card


def _align(ds: ImageSet, labels: list[str]) -> ImageSet:
    from trainer.inputs import align_labels

    try:
        return align_labels(ds, labels)
    except DataError:
        unnamed = ds.labels == [str(i) for i in range(ds.num_classes)]
        if unnamed and ds.num_classes == len(labels):
            log.warning("%s has no class names; assuming the model's order", ds.source)
            return ds
        raise


def evaluate(target: str | Path, data: str | None, *, out: str | Path | None = None,
             batch_size: int = 64, label_mode: str = "fine",
             test_split: bool = False, tta: str = "none") -> EvalResult:
    """Evaluate the model at ``target`` on ``data`` (any ``--data`` source; a named data set
    without ``:train``/``:test`` means its *test* split), or with ``test_split`` on exactly
    the held-out test images the run ``target`` kept apart (``--test-split``/``--test-data``);
    write ``eval_metrics.json``, ``eval_confusion_matrix.json``, ``eval_confusion_matrix.png``
    and ``eval_predictions.npz`` (``y``, ``probs``: per image) beside the model, or into
    ``out``. ``tta="flip"`` averages the probabilities of each image and its mirror image
    (test-time augmentation: twice the compute; served models do not do it)."""
    if tta not in TTA_MODES:
        raise DataError(f"--tta {tta!r}: accepted: {', '.join(TTA_MODES)}")
    if (data is None) == (not test_split):
        raise DataError("give --data SOURCE or --test-split (the run's held-out images), "
                        "exactly one")
    from trainer.data import load_source, make_dataset
    from trainer.hub import load_trainer_model
    from trainer.plots import plot_confusion
    from trainer.report import predict_probs

    model_path, card = resolve_model(target)
    try:
        model = load_trainer_model(model_path, (card or {}).get("backbone"))
    except ModelError:
        raise
    except Exception as exc:  # corrupt or foreign file: Keras raises many types
        raise ModelError(f"cannot load {model_path}: {str(exc).splitlines()[0][:200]}") from exc
    outputs = int(model.outputs[0].shape[-1])
    size = int(card["image_size"]) if card else int(model.inputs[0].shape[1])
    if test_split:
        from trainer.heldout import load_run_test_set

        ds, data = load_run_test_set(target)
    else:
        ds = load_source(data, label_mode=label_mode, default_split="test")
        data = ds.source or data  # says which split was scored, e.g. "cifar10:test"
    labels = list(card["labels"]) if card else list(ds.labels)
    if len(labels) != outputs:
        raise ModelError(f"model has {outputs} outputs but {len(labels)} labels")
    ds = _align(ds, labels)
    dataset = make_dataset(ds, image_size=size, batch_size=batch_size, training=False)
    probs, y = predict_probs(model, dataset)
    if tta == "flip":
        import tensorflow as tf

        mirrored, _ = predict_probs(model, dataset.map(
            lambda x, label: (tf.reverse(x, axis=[2]), label)))
        probs = (probs + mirrored) / 2
    cm = confusion_matrix(y, probs.argmax(axis=1), len(labels))
    from trainer.metrics import wilson_interval

    result = EvalResult(
        model=str(model_path), data=data, num_images=int(len(y)),
        top1=top_k_accuracy(probs, y, 1), top5=top_k_accuracy(probs, y, 5),
        top_k=min(5, len(labels)), per_class=per_class_accuracy(cm, labels), confusion=cm,
        labels=labels, tta=tta,
        ci95=wilson_interval(int(np.trace(cm)), int(len(y))))
    out_dir = Path(out) if out is not None else model_path.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / "eval_metrics.json", out_dir / "eval_confusion_matrix.json",
             out_dir / "eval_confusion_matrix.png", out_dir / "eval_predictions.npz"]
    write_json(files[0], result.to_json())
    write_json(files[1], {"labels": labels, "matrix": cm.tolist(),
                          "rows": "true class", "columns": "predicted class"})
    plot_confusion(cm, labels, files[2], f"confusion matrix: {ds.source or data}"[:80])
    savez(files[3], y=np.asarray(y), probs=probs.astype(np.float32))
    result.files = [str(f) for f in files]
    return result
