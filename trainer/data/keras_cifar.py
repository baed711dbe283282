"""CIFAR-10/100 through ``keras.datasets`` (downloads on first use, cached under ~/.keras),
and the CIFAR class names in label-index order (the Keras loaders give only integer labels)."""

from __future__ import annotations

import numpy as np

from trainer.data.labels import check_labels
from trainer.data.types import ImageSet
from trainer.errors import DataError

__all__ = [
    "CIFAR10_LABELS",
    "CIFAR100_COARSE_LABELS",
    "CIFAR100_FINE_LABELS",
    "load_keras_cifar",
]

CIFAR10_LABELS: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

CIFAR100_FINE_LABELS: tuple[str, ...] = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip

CIFAR100_COARSE_LABELS: tuple[str, ...] = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
    "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
)  # fmt: skip

_LOCAL_HINT = {
    "cifar10": "a cifar-10-batches-py directory",
    "cifar100": "a cifar-100-python directory",
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
            f"--data PATH with a .npz (x uint8 (N,H,W,3), y int (N,)), {_LOCAL_HINT[name]} "
            "or an image folder (one sub-folder per class)"
        ) from exc
    x, y = train if split == "train" else test
    source = f"{name}:{split}"
    y64 = check_labels(np.asarray(y).reshape(-1), names, source)
    return ImageSet(labels=names, y=y64, x=np.asarray(x, dtype=np.uint8), source=source)
