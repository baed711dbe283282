"""Class-name files and label checks shared by every data source."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from trainer.errors import DataError

__all__ = ["check_labels", "default_labels", "load_labels_txt", "sibling_labels_txt"]

LABELS_FILE = "labels.txt"
COARSE_LABELS_FILE = "coarse_labels.txt"


def load_labels_txt(path: str | os.PathLike[str]) -> list[str]:
    """Read class names, one per line in index order; blank trailing lines are ignored.

    Raises :class:`DataError` when the file is missing, empty or repeats a name.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"labels file not found: {path}")
    with open(path, encoding="utf-8") as handle:
        names = [line.strip() for line in handle.read().splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names or any(not name for name in names):
        raise DataError(f"{path}: expected one non-empty class name per line")
    _check_unique(names, path)
    return names


def sibling_labels_txt(data_path: str | os.PathLike[str], name: str = LABELS_FILE) -> str | None:
    """The ``labels.txt`` (or ``name``) next to a data file, or None when there is none."""
    candidate = os.path.join(os.path.dirname(os.path.abspath(data_path)), name)
    return candidate if os.path.isfile(candidate) else None


def default_labels(y: np.ndarray) -> list[str]:
    """Names ``"0" .. "C-1"`` where C is one more than the largest label."""
    count = int(y.max()) + 1 if y.size else 0
    return [str(i) for i in range(count)]


def check_labels(y: np.ndarray, labels: Sequence[str], source: str) -> np.ndarray:
    """Validate integer labels against the class names and return them as int64 ``(N,)``."""
    _check_unique(list(labels), source)
    y64 = np.asarray(y).astype(np.int64, copy=False).reshape(-1)
    if y64.size and (y64.min() < 0 or y64.max() >= len(labels)):
        raise DataError(
            f"{source}: labels out of range: found {int(y64.min())}..{int(y64.max())}, "
            f"accepted 0..{len(labels) - 1} ({len(labels)} class names)"
        )
    return y64


def _check_unique(names: list[str], source: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(f"{source}: class name {name!r} appears twice; names must be unique")
        seen.add(name)
