"""Class subsets, class-balanced subsets and stratified train/validation splits.

All functions return new :class:`ImageSet` objects whose images keep their original order
(shuffling is the pipeline's job), and are deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trainer.data.types import ImageSet
from trainer.errors import DataError

__all__ = ["balanced_subset", "held_out_counts", "select_classes", "stratified_holdout",
           "stratified_split"]


def select_classes(ds: ImageSet, classes: Sequence[str] | Sequence[int]) -> ImageSet:
    """Keep only ``classes`` and relabel them ``0..k-1`` in the given order.

    Each entry is a class name, or an index into ``ds.labels`` (an int, or a string of digits
    that is not itself a class name).
    """
    if len(classes) == 0:
        raise DataError("no classes given; pass at least one class name or index")
    indices = [_class_index(ds, c) for c in classes]
    if len(set(indices)) != len(indices):
        raise DataError(f"classes {list(classes)} name the same class twice")
    lookup = np.full(len(ds.labels), -1, dtype=np.int64)
    lookup[indices] = np.arange(len(indices))
    new_y = lookup[ds.y]
    keep = np.flatnonzero(new_y >= 0)
    subset = ds.take(keep)
    subset.y = new_y[keep]
    subset.labels = [ds.labels[i] for i in indices]
    empty = [subset.labels[i] for i in range(len(indices)) if not np.any(subset.y == i)]
    if empty:
        raise DataError(f"class {empty[0]!r} has no images in {ds.source or 'the data'}")
    return subset


def balanced_subset(ds: ImageSet, n: int, seed: int) -> ImageSet:
    """``n`` images drawn at random (seeded) with equal counts per class.

    Each of the C classes gets ``n // C`` images; the remainder ``n % C`` goes one each to the
    first classes in label order. A class without enough images is an error.
    """
    count = ds.num_classes
    if n <= 0 or n > len(ds):
        raise DataError(f"train size {n} is outside 1..{len(ds)} (the images available)")
    if n < count:
        raise DataError(f"train size {n} is smaller than the number of classes ({count})")
    wanted = np.full(count, n // count, dtype=np.int64)
    wanted[: n % count] += 1
    rng = np.random.default_rng(seed)
    chosen: list[np.ndarray] = []
    for label in range(count):
        members = np.flatnonzero(ds.y == label)
        if members.size < wanted[label]:
            raise DataError(
                f"class {ds.labels[label]!r} has {members.size} images; a balanced train size "
                f"of {n} needs {wanted[label]} per class (the smallest class has {_min_count(ds)})"
            )
        chosen.append(rng.choice(members, size=int(wanted[label]), replace=False))
    return ds.take(np.sort(np.concatenate(chosen)))


def stratified_split(ds: ImageSet, val_fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
    """Split into (train, validation) with ``val_fraction`` of every class in validation.

    Per class, ``round(fraction * count)`` images (at least 1, at most count - 1) go to
    validation, so every class with images needs at least 2.
    """
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"validation fraction {val_fraction} is outside (0, 1), e.g. 0.1")
    rng = np.random.default_rng(seed)
    val_parts: list[np.ndarray] = []
    for label in range(ds.num_classes):
        members = np.flatnonzero(ds.y == label)
        if members.size == 0:
            continue
        if members.size < 2:
            raise DataError(
                f"class {ds.labels[label]!r} has {members.size} image; a validation split "
                "needs at least 2 per class"
            )
        take = int(np.floor(val_fraction * members.size + 0.5))
        take = min(max(take, 1), members.size - 1)
        val_parts.append(rng.permutation(members)[:take])
    val_index = np.sort(np.concatenate(val_parts))
    is_val = np.zeros(len(ds), dtype=bool)
    is_val[val_index] = True
    return ds.take(np.flatnonzero(~is_val)), ds.take(val_index)


def _class_index(ds: ImageSet, wanted: str | int) -> int:
    if isinstance(wanted, str):
        if wanted in ds.labels:
            return ds.labels.index(wanted)
        if not wanted.isdigit():
            raise DataError(f"unknown class {wanted!r}; valid: {_short_list(ds.labels)}")
        wanted = int(wanted)
    if isinstance(wanted, bool) or not 0 <= int(wanted) < ds.num_classes:
        raise DataError(f"class index {wanted} is outside 0..{ds.num_classes - 1}")
    return int(wanted)


def _short_list(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} classes)"


def _min_count(ds: ImageSet) -> int:
    return int(np.bincount(ds.y, minlength=ds.num_classes).min())


def held_out_counts(ds: ImageSet, amount: float) -> np.ndarray:
    """Images per class to hold out: ``amount`` < 1 is a fraction of every class
    (``round(fraction * count)``, at least 1), ``amount`` >= 1 an integer total spread evenly
    over the classes (``N // C`` each, the remainder one each to the first classes). Every class
    keeps at least one image."""
    counts = np.bincount(ds.y, minlength=ds.num_classes)
    if 0.0 < amount < 1.0:
        take = np.floor(amount * counts + 0.5).astype(np.int64)
        take = np.where(counts > 0, np.maximum(take, 1), 0)
    elif amount >= 1 and float(amount).is_integer():
        n = int(amount)
        present = np.flatnonzero(counts > 0)
        if n < present.size:
            raise DataError(f"a held-out split of {n} images is smaller than the number of "
                            f"classes ({present.size}); give at least one per class")
        take = np.zeros(ds.num_classes, dtype=np.int64)
        take[present] = n // present.size
        take[present[: n % present.size]] += 1
    else:
        raise DataError(f"held-out split {amount} is neither a fraction in (0, 1) nor a whole "
                        "number of images (e.g. 0.1 or 1000)")
    short = np.flatnonzero(take >= np.maximum(counts, 1))
    if short.size and counts[short[0]] > 0:
        i = int(short[0])
        raise DataError(f"class {ds.labels[i]!r} has {counts[i]} images; holding out {take[i]} "
                        "leaves none to train on")
    return take


def stratified_holdout(ds: ImageSet, amount: float, seed: int
                       ) -> tuple[ImageSet, ImageSet, np.ndarray]:
    """``(rest, held_out, held_out_index)``: a stratified, seeded held-out split of
    :func:`held_out_counts` images per class. The random stream is separate from
    :func:`stratified_split`'s (same seed, different draws), and ``held_out_index`` (sorted
    positions in ``ds``) is what a run saves to re-score exactly these images."""
    take = held_out_counts(ds, amount)
    rng = np.random.default_rng([seed, 0x7E57])
    parts = [rng.permutation(np.flatnonzero(ds.y == label))[: int(take[label])]
             for label in range(ds.num_classes)]
    index = np.sort(np.concatenate(parts)).astype(np.int64)
    keep = np.ones(len(ds), dtype=bool)
    keep[index] = False
    return ds.take(np.flatnonzero(keep)), ds.take(index), index
