"""Load the original CIFAR python-version directories.

``cifar-10-batches-py``: ``data_batch_1`` .. ``data_batch_5`` (train), ``test_batch`` and
``batches.meta`` (``label_names``). ``cifar-100-python``: ``train``, ``test`` and ``meta``
(``fine_label_names``, ``coarse_label_names``). Each batch is a pickled dict whose ``data``
is uint8 ``(N, 3072)``: 1024 red, then 1024 green, then 1024 blue values per 32×32 image.
Files are unpickled with a restricted unpickler that only admits numpy's array classes.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np

from trainer.data.labels import check_labels
from trainer.data.types import ImageSet
from trainer.errors import DataError

__all__ = ["is_cifar10_dir", "is_cifar100_dir", "load_cifar_pickle_dir"]

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays, nothing else (no code execution)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def is_cifar10_dir(path: str) -> bool:
    """True when ``path`` looks like ``cifar-10-batches-py``."""
    return os.path.isfile(os.path.join(path, "batches.meta"))


def is_cifar100_dir(path: str) -> bool:
    """True when ``path`` looks like ``cifar-100-python``."""
    return os.path.isfile(os.path.join(path, "meta")) and (
        os.path.isfile(os.path.join(path, "train")) or os.path.isfile(os.path.join(path, "test"))
    )


def load_cifar_pickle_dir(path: str, *, split: str = "train", label_mode: str = "fine") -> ImageSet:
    """Read the ``split`` ("train" or "test") of a CIFAR-10 or CIFAR-100 pickle directory;
    ``label_mode`` ("fine"/"coarse") applies to CIFAR-100 only."""
    if is_cifar10_dir(path):
        if label_mode != "fine":
            raise DataError(f"{path}: label_mode {label_mode!r} applies only to CIFAR-100")
        names = _decode_list(_read(os.path.join(path, "batches.meta"))["label_names"])
        files = _cifar10_files(path, split)
        key = "labels"
    elif is_cifar100_dir(path):
        meta = _read(os.path.join(path, "meta"))
        names = _decode_list(meta[f"{label_mode}_label_names"])
        files = [os.path.join(path, split)]
        key = f"{label_mode}_labels"
    else:
        raise DataError(f"{path}: not a cifar-10-batches-py or cifar-100-python directory")
    xs, ys = [], []
    for file in files:
        batch = _read(file)
        if "data" not in batch or key not in batch:
            raise DataError(f"{file}: expected keys 'data' and {key!r}, found {sorted(batch)}")
        xs.append(_to_images(np.asarray(batch["data"], dtype=np.uint8), file))
        ys.append(np.asarray(batch[key], dtype=np.int64))
    x, y = np.concatenate(xs), np.concatenate(ys)
    source = f"{path}:{split}"
    return ImageSet(labels=names, y=check_labels(y, names, source), x=x, source=source)


def _cifar10_files(path: str, split: str) -> list[str]:
    if split == "test":
        names = ["test_batch"]
    else:
        names = sorted(
            (n for n in os.listdir(path) if n.startswith("data_batch_")),
            key=lambda n: int(n.rsplit("_", 1)[1]) if n.rsplit("_", 1)[1].isdigit() else 0,
        )
    files = [os.path.join(path, n) for n in names]
    if not files or not all(os.path.isfile(f) for f in files):
        raise DataError(f"{path}: no {split} batches found (data_batch_1.. or test_batch)")
    return files


def _read(file: str) -> dict[str, Any]:
    if not os.path.isfile(file):
        raise DataError(f"CIFAR file not found: {file}")
    try:
        with open(file, "rb") as handle:
            raw = _ArrayOnlyUnpickler(handle, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DataError(f"{file}: not a CIFAR pickle batch ({exc})") from exc
    if not isinstance(raw, dict):
        raise DataError(f"{file}: not a CIFAR pickle batch (expected a dict)")
    return {k.decode() if isinstance(k, bytes) else str(k): v for k, v in raw.items()}


def _decode_list(values: list[Any]) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _to_images(data: np.ndarray, file: str) -> np.ndarray:
    """(N, 3*S*S) channel-planar rows -> (N, S, S, 3)."""
    side = int(round((data.shape[-1] / 3) ** 0.5)) if data.ndim == 2 else 0
    if data.ndim != 2 or 3 * side * side != data.shape[1]:
        raise DataError(f"{file}: data is {tuple(data.shape)}; expected (N, 3*S*S), e.g. 3072")
    return data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1).copy()
