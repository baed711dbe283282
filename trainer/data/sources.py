"""``load_source``: turn a ``--data`` spec into an :class:`ImageSet`.

Accepted specs:

- ``cifar10`` / ``cifar100``: Keras' loaders; ``cifar10:train`` / ``cifar10:test`` (and
  ``cifar100:...``) name the split explicitly, a bare name means ``default_split``
  ("train" for ``fit``; ``trainer evaluate`` passes "test");
- ``PATH.npz``: ``x`` uint8 ``(N,H,W,3)``, ``y`` int ``(N,)``, optional ``labels``; with
  ``label_mode="coarse"`` the labels are ``y_coarse`` (names from ``coarse_labels.txt``);
- a directory of class sub-folders with PNG/JPEG images;
- a ``cifar-10-batches-py`` or ``cifar-100-python`` directory, optionally suffixed with
  ``:train`` or ``:test`` (e.g. ``data/cifar-10-batches-py:test``) or given ``split=``.

``split`` applies to the sources that have splits (the two above); a ``.npz`` or image
folder is one split already, so asking it for "train"/"test" is an error.
"""

from __future__ import annotations

import os

from trainer.data.cifar_pickle import is_cifar10_dir, is_cifar100_dir, load_cifar_pickle_dir
from trainer.data.folder_source import load_image_folder
from trainer.data.keras_cifar import load_keras_cifar
from trainer.data.npz_source import load_npz
from trainer.data.types import ImageSet
from trainer.errors import DataError

__all__ = ["ACCEPTED_SOURCES", "load_source", "same_source"]

ACCEPTED_SOURCES = (
    "cifar10, cifar100, a .npz file (x uint8 (N,H,W,3), y int (N,)), a folder of class "
    "sub-folders with PNG/JPEG images, or a cifar-10-batches-py / cifar-100-python directory"
)
SPLITS = ("train", "test")
LABEL_MODES = ("fine", "coarse")


def load_source(
    spec: str,
    *,
    label_mode: str = "fine",
    split: str | None = None,
    in_memory: bool | None = None,
    default_split: str = "train",
) -> ImageSet:
    """Load the data set named by ``spec`` (see module docstring).

    ``label_mode`` ("fine" or "coarse") selects CIFAR-100's label set. ``in_memory`` is passed
    to the image-folder loader (None: decode into ``x`` when all images share one size).
    ``default_split`` is the split of a source with splits when neither a ``:train``/``:test``
    suffix nor ``split`` names one.
    Raises :class:`DataError` with a one-line message on anything unusable.
    """
    if label_mode not in LABEL_MODES:
        raise DataError(f"label mode {label_mode!r} is unknown; accepted: fine, coarse")
    if split is not None and split not in SPLITS:
        raise DataError(f"split {split!r} is unknown; accepted: train, test")
    path, split = _split_suffix(spec, split)
    if path in ("cifar10", "cifar100"):
        return load_keras_cifar(path, split=split or default_split, label_mode=label_mode)
    if not os.path.exists(path):
        raise DataError(f"data not found: {path}; accepted: {ACCEPTED_SOURCES}")
    if os.path.isdir(path) and (is_cifar10_dir(path) or is_cifar100_dir(path)):
        return load_cifar_pickle_dir(path, split=split or default_split, label_mode=label_mode)
    if split is not None:
        raise DataError(
            f"{path}: has no train/test splits; split applies to cifar10, cifar100 and the "
            "CIFAR pickle directories"
        )
    if path.lower().endswith(".npz") and os.path.isfile(path):
        return load_npz(path, label_mode=label_mode)
    if label_mode != "fine":
        raise DataError(f"{path}: label mode 'coarse' applies only to CIFAR-100 (a .npz with "
                        "y_coarse, or a cifar-100-python directory)")
    if os.path.isdir(path):
        return load_image_folder(path, in_memory=in_memory)
    raise DataError(f"{path}: unsupported data file; accepted: {ACCEPTED_SOURCES}")


def _split_suffix(spec: str, split: str | None) -> tuple[str, str | None]:
    """Strip a ``:train``/``:test`` suffix from a path spec; it must agree with ``split``."""
    head, sep, tail = spec.rpartition(":")
    if not sep or tail not in SPLITS or not head:
        return spec, split
    if split is not None and split != tail:
        raise DataError(f"{spec}: the :{tail} suffix contradicts split={split!r}")
    return head, tail


def same_source(a: str, b: str, *, default_split: str = "train") -> bool:
    """True when the specs ``a`` and ``b`` name the same data (same file or directory after
    resolving, same split): e.g. ``cifar10`` and ``cifar10:train``, or two spellings of one
    path."""
    def key(spec: str) -> tuple[str, str | None]:
        path, split = _split_suffix(spec, None)
        if path in ("cifar10", "cifar100"):
            return path, split or default_split
        if os.path.isdir(path) and (is_cifar10_dir(path) or is_cifar100_dir(path)):
            return os.path.realpath(path), split or default_split
        return os.path.realpath(path), split

    return key(a) == key(b)
