"""The run directory (docs/contracts.md §1): its layout and the small files in it."""

from __future__ import annotations

import csv
import io
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.run_contract import ModelCard
from trainer.atomic import remove_stale_temps, savez, write_json, write_text
from trainer.data import ImageSet, read_images
from trainer.errors import TrainerError

__all__ = ["RunPaths", "prepare_run_dir", "write_model_json", "write_labels", "write_samples",
           "write_history", "model_card"]

log = logging.getLogger(__name__)

MAX_SAMPLES = 512
# training images for the exporter's int8 step (calibration, and distillation for the int8
# fine-tuning, which keeps more of the float model's answers with more images: BENCHMARKS.md
# section 8), as many as fit in CALIB_BYTES
MAX_CALIB = 4096
CALIB_BYTES = 64 * 2**20
RUN_MARKERS = ("config.yaml", "model.json", "checkpoints")


@dataclass(frozen=True)
class RunPaths:
    """Paths of the files in one run directory (names: docs/contracts.md)."""

    root: Path

    @property
    def model(self) -> Path:
        return self.root / "model.keras"

    @property
    def best(self) -> Path:
        return self.root / "best.keras"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def history(self) -> Path:
        return self.root / "history.csv"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def test_split(self) -> Path:
        return self.root / "test_split.npz"

    @property
    def labels(self) -> Path:
        return self.root / "labels.txt"

    @property
    def model_json(self) -> Path:
        return self.root / "model.json"

    @property
    def samples(self) -> Path:
        return self.root / "samples.npz"

    @property
    def loss_png(self) -> Path:
        return self.root / "loss.png"

    @property
    def accuracy_png(self) -> Path:
        return self.root / "accuracy.png"

    @property
    def confusion_png(self) -> Path:
        return self.root / "confusion_matrix.png"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"


def prepare_run_dir(out: str | Path, *, overwrite: bool, resume: bool) -> RunPaths:
    """Create ``out`` for a new run; an existing non-empty directory is refused unless
    ``overwrite`` (then emptied, only if it looks like a run directory) or ``resume``."""
    root = Path(out)
    paths = RunPaths(root)
    if resume:
        if not (paths.config.is_file() and paths.checkpoints.is_dir()):
            raise TrainerError(f"--resume: {root} is not a run directory with checkpoints/")
        for stale in remove_stale_temps(root) + remove_stale_temps(paths.checkpoints):
            log.info("removed %s, left by an interrupted run", stale)
        return paths
    if root.exists() and not root.is_dir():
        raise TrainerError(f"--out {root} exists and is not a directory")
    if root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise TrainerError(f"--out {root} already exists; pass --overwrite to replace it "
                               "or --resume to continue it")
        if not any((root / m).exists() for m in RUN_MARKERS):
            raise TrainerError(f"--overwrite refused: {root} is not empty and does not look "
                               "like a run directory (no config.yaml/model.json)")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    paths.checkpoints.mkdir(exist_ok=True)
    return paths


def model_card(backbone: str, image_size: int, preprocessing: str,
               labels: Sequence[str], hub_modules: Sequence[str] = ()) -> dict[str, Any]:
    """The ``model.json`` content (``common.run_contract.ModelCard``, docs/contracts.md).
    ``hub_modules``: the local SavedModel directories a ``hub:`` backbone's TFSMLayer loads."""
    return ModelCard.for_run(backbone, image_size, preprocessing, labels,
                             hub_modules).to_json_dict()


def write_model_json(paths: RunPaths, backbone: str, image_size: int, preprocessing: str,
                     labels: Sequence[str], hub_modules: Sequence[str] = ()) -> None:
    """Write ``model.json``."""
    write_json(paths.model_json, model_card(backbone, image_size, preprocessing, labels,
                                            hub_modules))


def write_labels(paths: RunPaths, labels: Sequence[str]) -> None:
    """Write ``labels.txt`` (one class name a line, index order)."""
    write_text(paths.labels, "".join(f"{name}\n" for name in labels))


def _pick(n: int, seed: int, limit: int = MAX_SAMPLES) -> np.ndarray:
    """Up to ``limit`` indices in random (seeded) order: sources are often sorted by class,
    so any prefix a consumer takes (e.g. the exporter's parity sample) must stay mixed."""
    rng = np.random.default_rng(seed)
    return rng.permutation(n)[:limit]


def _calib_limit(image_shape: tuple[int, ...]) -> int:
    """How many calibration images of ``image_shape`` (uint8) fit in CALIB_BYTES."""
    per_image = int(np.prod(image_shape))
    return max(MAX_SAMPLES, min(MAX_CALIB, CALIB_BYTES // max(per_image, 1)))


def write_samples(paths: RunPaths, train: ImageSet, val: ImageSet, image_size: int,
                  seed: int) -> None:
    """``samples.npz``: ≤512 validation images with labels and ≤4,096 training images (at
    most 64 MB, at least 512) for the int8 export, raw when the source's images share one
    size, else contract-resized."""
    val_index = _pick(len(val), seed)
    x_val = read_images(val, val_index, image_size=image_size)
    calib_index = _pick(len(train), seed + 1, _calib_limit(x_val.shape[1:]))
    x_calib = read_images(train, calib_index, image_size=image_size)
    if x_val.shape[1:] != x_calib.shape[1:]:  # file sets whose two picks differ in size
        x_val, x_calib = _resized(x_val, image_size), _resized(x_calib, image_size)
        x_calib = x_calib[: _calib_limit(x_calib.shape[1:])]
    savez(paths.samples, x_val=x_val.astype(np.uint8),
          y_val=val.y[val_index].astype(np.int64), x_calib=x_calib.astype(np.uint8))


def _resized(x: np.ndarray, size: int) -> np.ndarray:
    if x.shape[1:3] == (size, size):
        return x
    import tensorflow as tf

    out = tf.image.resize(x.astype(np.float32), (size, size), method="bilinear",
                          antialias=False).numpy()
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def write_history(paths: RunPaths, rows: Sequence[dict[str, Any]]) -> None:
    """``history.csv``: one row per epoch (1-based ``epoch``)."""
    if not rows:
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(paths.history, buf.getvalue())
