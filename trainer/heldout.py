"""Held-out test images of a run (``--test-split`` / ``--test-data``): saving the split,
checking it on resume, re-loading it for ``trainer evaluate``, and scoring the final model
on it with a 95 % Wilson interval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trainer.atomic import savez
from trainer.config import FitConfig, load_config
from trainer.data import ImageSet, load_source
from trainer.errors import DataError, TrainerError
from trainer.inputs import FitData, align_labels, load_training_source
from trainer.metrics import top_k_accuracy, wilson_interval
from trainer.run_dir import RunPaths

__all__ = ["save_test_split", "check_test_split", "load_run_test_set", "score_test",
           "describe_test"]


def describe_test(config: FitConfig) -> str:
    """Where the held-out images come from, for metrics.json and the CLI."""
    if config.test_split is not None:
        return f"--test-split {config.test_split:g} of {config.data} (seed {config.seed})"
    return f"--test-data {config.test_data}"


def save_test_split(paths: RunPaths, data: FitData) -> None:
    """Write ``test_split.npz`` (``index``: positions in the ``--data`` source after
    ``--classes``; ``y``: their labels) when the run holds out a ``--test-split``."""
    if data.test is not None and data.test_index is not None:
        savez(paths.test_split, index=data.test_index.astype(np.int64),
              y=data.test.y.astype(np.int64))


def check_test_split(paths: RunPaths, data: FitData) -> None:
    """On ``--resume``: the recomputed held-out split must be the saved one (else the data
    changed, and images once held out could now be trained on)."""
    if data.test_index is None:
        return
    saved_index, saved_y = _read_split(paths.test_split)
    if not (np.array_equal(saved_index, data.test_index)
            and np.array_equal(saved_y, data.test.y if data.test is not None else None)):
        raise TrainerError(f"--resume: the held-out test split of {paths.root} no longer "
                           "matches the data (--data changed?); refusing to continue")


def _read_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise TrainerError(f"{path} is missing: the run's held-out test split cannot be "
                           "reproduced exactly")
    try:
        with np.load(path, allow_pickle=False) as saved:
            return saved["index"].astype(np.int64), saved["y"].astype(np.int64)
    except (OSError, KeyError, ValueError) as exc:
        raise TrainerError(f"{path} is not a test split file ({exc})") from None


def load_run_test_set(run_dir: str | Path) -> tuple[ImageSet, str]:
    """``(images, description)``: exactly the held-out test images of run ``run_dir``, from
    its ``config.yaml`` and ``test_split.npz`` (or its ``--test-data``)."""
    root = Path(run_dir)
    if not (root / "config.yaml").is_file():
        raise TrainerError(f"{root} is not a run directory (no config.yaml): the held-out "
                           "split lives in a run")
    config = load_config(root / "config.yaml")
    if config.test_data is not None:
        source = load_training_source(config)
        test = align_labels(load_source(config.test_data, label_mode=config.label_mode),
                            source.labels)
        return test, describe_test(config)
    if config.test_split is None:
        raise TrainerError(f"{root} was trained without --test-split or --test-data: it has "
                           "no held-out test images; pass --data")
    index, y = _read_split(RunPaths(root).test_split)
    source = load_training_source(config)
    if index.size and int(index.max()) >= len(source):
        raise DataError(f"{config.data} has {len(source)} images but the run's test split "
                        f"refers to image {int(index.max())}: the data changed")
    test = source.take(index)
    if not np.array_equal(test.y, y):
        raise DataError(f"{config.data}: the labels of the run's held-out images differ from "
                        "the ones saved at training time: the data changed")
    return test, describe_test(config)


def score_test(probs: np.ndarray, y: np.ndarray, source: str) -> dict[str, Any]:
    """The ``metrics.json`` ``test`` block: accuracy, image count, 95 % Wilson interval."""
    correct = int(np.sum(probs.argmax(axis=1) == y))
    n = int(len(y))
    low, high = wilson_interval(correct, n)
    return {"source": source, "num_images": n, "correct": correct,
            "accuracy": correct / n if n else float("nan"),
            "ci95": [low, high], "ci_method": "wilson",
            "top5_accuracy": top_k_accuracy(probs, y, 5)}
