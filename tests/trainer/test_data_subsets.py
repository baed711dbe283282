"""Class subsets with relabelling, class-balanced subsets and stratified splits."""

from __future__ import annotations

import numpy as np

from tests.trainer import data_factory as factory
from trainer.data import ImageSet, balanced_subset, select_classes, stratified_split


def _set(n_per_class: int = 10, classes: int = 4) -> ImageSet:
    x, y, names = factory.make_arrays(n_per_class, classes, size=4)
    return ImageSet(labels=names, y=y, x=x, source="test")


def _counts(ds: ImageSet) -> list[int]:
    return np.bincount(ds.y, minlength=ds.num_classes).tolist()


def test_select_classes_relabels_in_the_given_order():
    ds = _set()
    subset = select_classes(ds, ["class03", "class01"])
    assert subset.labels == ["class03", "class01"]
    assert _counts(subset) == [10, 10]
    original = ds.y[np.isin(ds.y, [3, 1])]
    np.testing.assert_array_equal(subset.y, np.where(original == 3, 0, 1))
    np.testing.assert_array_equal(subset.x, ds.x[np.isin(ds.y, [3, 1])])
    by_index = select_classes(ds, [3, 1])
    by_digits = select_classes(ds, ["3", "1"])
    for other in (by_index, by_digits):
        assert other.labels == subset.labels
        np.testing.assert_array_equal(other.y, subset.y)


def test_balanced_subset_counts_remainder_and_determinism():
    ds = _set(n_per_class=10, classes=4)
    even = balanced_subset(ds, 20, seed=1)
    assert _counts(even) == [5, 5, 5, 5]
    odd = balanced_subset(ds, 22, seed=1)
    assert _counts(odd) == [6, 6, 5, 5]  # remainder goes to the first classes
    again = balanced_subset(ds, 22, seed=1)
    np.testing.assert_array_equal(odd.x, again.x)
    other = balanced_subset(ds, 22, seed=2)
    assert not np.array_equal(odd.x, other.x)
    assert len(balanced_subset(ds, 40, seed=0)) == 40


def test_stratified_split_is_stratified_disjoint_and_deterministic():
    ds = _set(n_per_class=10, classes=4)
    ds.y = ds.y.copy()
    train, val = stratified_split(ds, 0.2, seed=7)
    assert _counts(val) == [2, 2, 2, 2] and _counts(train) == [8, 8, 8, 8]
    flat = ds.x.reshape(len(ds), -1)
    rows = {row.tobytes() for row in flat}
    assert len(rows) == len(ds)  # generated images are all distinct
    val_rows = {row.tobytes() for row in val.x.reshape(len(val), -1)}
    train_rows = {row.tobytes() for row in train.x.reshape(len(train), -1)}
    assert not val_rows & train_rows and val_rows | train_rows == rows
    train2, val2 = stratified_split(ds, 0.2, seed=7)
    np.testing.assert_array_equal(val.x, val2.x)
    np.testing.assert_array_equal(train.y, train2.y)
    _, val3 = stratified_split(ds, 0.2, seed=8)
    assert not np.array_equal(val.x, val3.x)


def test_stratified_split_keeps_one_image_of_small_classes_on_each_side():
    x, y, names = factory.make_arrays(1, 2, size=4)
    ds = ImageSet(labels=names, y=np.array([0, 0, 1, 1, 1, 1, 1, 1, 1, 1]), x=np.repeat(x, 5, 0))
    train, val = stratified_split(ds, 0.01, seed=0)
    assert _counts(val) == [1, 1] and _counts(train) == [1, 7]
    train, val = stratified_split(ds, 0.99, seed=0)
    assert _counts(val) == [1, 7] and _counts(train) == [1, 1]
