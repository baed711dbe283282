"""Load a ``.npz`` file: ``x`` uint8 ``(N, H, W, 3)``, ``y`` int ``(N,)`` and optional names."""

from __future__ import annotations

import os
import zipfile

import numpy as np

from trainer.data.labels import (
    COARSE_LABELS_FILE,
    check_labels,
    default_labels,
    load_labels_txt,
    sibling_labels_txt,
)
from trainer.data.types import ImageSet
from trainer.errors import DataError

__all__ = ["load_npz"]

NAME_KEYS = ("labels", "label_names")
ACCEPTED = (
    "accepted: x uint8 (N,H,W,3), y integer (N,) or (N,1), optional labels/label_names array of str"
)


def load_npz(path: str, *, label_mode: str = "fine") -> ImageSet:
    """Read an ``.npz`` data set (see module docstring).

    Class names come from a ``labels`` (or ``label_names``) array in the file, else from a
    sibling ``labels.txt``, else they are ``"0" .. "C-1"``. ``label_mode="coarse"`` (a
    CIFAR-100 style file) reads the labels from ``y_coarse`` and the names from a
    ``coarse_labels`` array or a sibling ``coarse_labels.txt``.
    """
    if not os.path.isfile(path):
        raise DataError(f"data file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc}); {ACCEPTED}") from exc
    y_key = "y_coarse" if label_mode == "coarse" else "y"
    missing = [key for key in ("x", y_key) if key not in arrays]
    if missing:
        found = ", ".join(sorted(arrays)) or "nothing"
        if y_key == "y_coarse" and "x" in arrays:
            raise DataError(f"{path}: --label-mode coarse needs a y_coarse array (found "
                            f"{found}); only CIFAR-100 style files have coarse labels")
        raise DataError(f"{path}: missing key(s) {', '.join(missing)} (found {found}); {ACCEPTED}")
    x, y = arrays["x"], arrays[y_key]
    _check_arrays(path, x, y)
    y = y.reshape(-1)
    labels = _coarse_names(path, arrays, y) if y_key == "y_coarse" else _names(path, arrays, y)
    return ImageSet(labels=labels, y=check_labels(y, labels, path), x=x, source=path)


def _check_arrays(path: str, x: np.ndarray, y: np.ndarray) -> None:
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3:
        raise DataError(f"{path}: x is {x.dtype} {tuple(x.shape)}; {ACCEPTED}")
    if x.shape[0] == 0:
        raise DataError(f"{path}: x holds no images; {ACCEPTED}")
    if not np.issubdtype(y.dtype, np.integer) or not (
        y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)
    ):
        raise DataError(f"{path}: y is {y.dtype} {tuple(y.shape)}; {ACCEPTED}")
    if y.shape[0] != x.shape[0]:
        raise DataError(
            f"{path}: x has {x.shape[0]} images but y has {y.shape[0]} labels; they must match"
        )


def _names(path: str, arrays: dict[str, np.ndarray], y: np.ndarray) -> list[str]:
    for key in NAME_KEYS:
        if key in arrays:
            names = arrays[key]
            if names.ndim != 1 or names.dtype.kind not in "US":
                raise DataError(f"{path}: {key} is {names.dtype} {tuple(names.shape)}; {ACCEPTED}")
            return [n.decode() if isinstance(n, bytes) else str(n) for n in names.tolist()]
    sibling = sibling_labels_txt(path)
    if sibling is not None:
        return load_labels_txt(sibling)
    return default_labels(y)


def _coarse_names(path: str, arrays: dict[str, np.ndarray], y: np.ndarray) -> list[str]:
    if "coarse_labels" in arrays:
        names = arrays["coarse_labels"]
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise DataError(f"{path}: coarse_labels is {names.dtype} {tuple(names.shape)}; "
                            "expected a 1-D array of str")
        return [n.decode() if isinstance(n, bytes) else str(n) for n in names.tolist()]
    sibling = sibling_labels_txt(path, COARSE_LABELS_FILE)
    if sibling is not None:
        return load_labels_txt(sibling)
    return default_labels(y)
