"""How the data flags of a FitConfig become training and validation sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.trainer.data_factory import write_npz
from trainer.config import make_config
from trainer.errors import DataError
from trainer.inputs import align_labels, prepare_data


def test_split_then_balanced_train_size(npz_path: Path) -> None:
    data = prepare_data(make_config(data=str(npz_path), out="o", val_split=0.25,
                                    train_size=20, seed=1))
    assert len(data.val) == 16 and len(data.train) == 20
    assert np.bincount(data.train.y).tolist() == [5, 5, 5, 5]
    assert np.bincount(data.val.y).tolist() == [4, 4, 4, 4]


def test_same_seed_same_split(npz_path: Path) -> None:
    config = make_config(data=str(npz_path), out="o", val_split=0.25, seed=7)
    a, b = prepare_data(config), prepare_data(config)
    np.testing.assert_array_equal(a.val.x, b.val.x)
    np.testing.assert_array_equal(a.train.y, b.train.y)


def test_classes_and_val_data_matched_by_name(npz_path: Path, tmp_path: Path) -> None:
    val_path = tmp_path / "val.npz"
    write_npz(val_path, n_per_class=2, classes=6, seed=9)  # class00..class05
    data = prepare_data(make_config(data=str(npz_path), out="o", val_data=str(val_path),
                                    classes=["class03", "class01"]))
    assert data.labels == ["class03", "class01"]
    assert data.val.labels == ["class03", "class01"]
    assert len(data.val) == 4 and len(data.train) == 32


def test_val_data_missing_a_class(npz_path: Path, tmp_path: Path) -> None:
    val_path = tmp_path / "val3.npz"
    write_npz(val_path, n_per_class=2, classes=3, seed=9)
    with pytest.raises(DataError, match="has no class 'class03'"):
        prepare_data(make_config(data=str(npz_path), out="o", val_data=str(val_path)))


def test_align_labels_is_identity_for_equal_labels(npz_path: Path) -> None:
    data = prepare_data(make_config(data=str(npz_path), out="o", val_split=0.25))
    assert align_labels(data.val, data.labels) is data.val
