"""CIFAR-10/100 through ``keras.datasets`` (downloads on first use, cached under ~/.keras)."""

from __future__ import annotations

import numpy as np

from trainer.data.cifar_names import CIFAR10_LABELS, CIFAR100_COARSE_LABELS, CIFAR100_FINE_LABELS
from trainer.data.labels import check_labels
from trainer.data.types import ImageSet
from trainer.errors import DataError

__all__ = ["load_keras_cifar"]

_LOCAL_HINT = {
    "cifar10": "../shared/data/cifar10/train.npz, a cifar-10-batches-py directory",
    "cifar100": "a .npz, a cifar-100-python directory",
}


def load_keras_cifar(name: str, *, split: str = "train", label_mode: str = "fine") -> ImageSet:
    """Load ``name`` ("cifar10" or "cifar100") with Keras; ``split`` is "train" or "test"."""
    import keras

    if name == "cifar10":
        if label_mode != "fine":
            raise DataError(f"label_mode {label_mode!r} applies only to CIFAR-100")
        loader, names = keras.datasets.cifar10.load_data, list(CIFAR10_LABELS)
        call = {}
    else:
        loader = keras.datasets.cifar100.load_data
        names = list(CIFAR100_FINE_LABELS if label_mode == "fine" else CIFAR100_COARSE_LABELS)
        call = {"label_mode": label_mode}
    try:
        train, test = loader(**call)
    except Exception as exc:  # network errors come as plain Exception from keras' get_file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"could not download {name} ({reason}); pass a local copy instead: "
            f"--data PATH with {_LOCAL_HINT[name]} or an image folder (one sub-folder per class)"
        ) from exc
    x, y = train if split == "train" else test
    source = f"{name}:{split}"
    y64 = check_labels(np.asarray(y).reshape(-1), names, source)
    return ImageSet(labels=names, y=y64, x=np.asarray(x, dtype=np.uint8), source=source)
