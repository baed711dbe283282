"""``load_source``: turn a ``--data`` spec into an :class:`ImageSet`.

Accepted specs:

- ``cifar10`` / ``cifar100``: Keras' loaders (split "train" by default, or "test");
- ``PATH.npz``: ``x`` uint8 ``(N,H,W,3)``, ``y`` int ``(N,)``, optional ``labels``;
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

__all__ = ["ACCEPTED_SOURCES", "load_source"]

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
) -> ImageSet:
    """Load the data set named by ``spec`` (see module docstring).

    ``label_mode`` ("fine" or "coarse") selects CIFAR-100's label set. ``in_memory`` is passed
    to the image-folder loader (None: decode into ``x`` when all images share one size).
    Raises :class:`DataError` with a one-line message on anything unusable.
    """
    if label_mode not in LABEL_MODES:
        raise DataError(f"label mode {label_mode!r} is unknown; accepted: fine, coarse")
    if split is not None and split not in SPLITS:
        raise DataError(f"split {split!r} is unknown; accepted: train, test")
    if spec in ("cifar10", "cifar100"):
        return load_keras_cifar(spec, split=split or "train", label_mode=label_mode)
    path, split = _split_suffix(spec, split)
    if not os.path.exists(path):
        raise DataError(f"data not found: {path}; accepted: {ACCEPTED_SOURCES}")
    if os.path.isdir(path) and (is_cifar10_dir(path) or is_cifar100_dir(path)):
        return load_cifar_pickle_dir(path, split=split or "train", label_mode=label_mode)
    if split is not None:
        raise DataError(
            f"{path}: has no train/test splits; split applies to cifar10, cifar100 and the "
            "CIFAR pickle directories"
        )
    if label_mode != "fine":
        raise DataError(f"{path}: label mode 'coarse' applies only to CIFAR-100")
    if os.path.isdir(path):
        return load_image_folder(path, in_memory=in_memory)
    if path.lower().endswith(".npz"):
        return load_npz(path)
    raise DataError(f"{path}: unsupported data file; accepted: {ACCEPTED_SOURCES}")


def _split_suffix(spec: str, split: str | None) -> tuple[str, str | None]:
    """Strip a ``:train``/``:test`` suffix from a path spec; it must agree with ``split``."""
    head, sep, tail = spec.rpartition(":")
    if not sep or tail not in SPLITS or not head:
        return spec, split
    if split is not None and split != tail:
        raise DataError(f"{spec}: the :{tail} suffix contradicts split={split!r}")
    return head, tail
