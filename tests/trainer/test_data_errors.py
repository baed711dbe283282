"""Each bad input gives a one-line DataError that says what was wrong and what is accepted."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from tests.trainer import data_factory as factory
from trainer.data import (
    ImageSet,
    balanced_subset,
    load_labels_txt,
    load_source,
    make_dataset,
    select_classes,
    stratified_split,
)
from trainer.errors import DataError


def _raises(match: str, func, *args, **kwargs) -> str:
    with pytest.raises(DataError, match=match) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def _set(n_per_class: int = 4, classes: int = 3) -> ImageSet:
    x, y, names = factory.make_arrays(n_per_class, classes, size=4)
    return ImageSet(labels=names, y=y, x=x, source="test")


def test_missing_and_unsupported_paths(tmp_path):
    message = _raises("data not found", load_source, str(tmp_path / "nope.npz"))
    assert "accepted: cifar10, cifar100, a .npz file" in message
    (tmp_path / "data.csv").write_text("1,2\n")
    _raises("unsupported data file; accepted: cifar10", load_source, str(tmp_path / "data.csv"))
    _raises("labels file not found", load_labels_txt, tmp_path / "labels.txt")


def test_npz_with_wrong_keys_shape_or_dtype(tmp_path):
    x, y, _ = factory.make_arrays(2, 2, 8)
    cases = {
        "keys": (
            {"images": x, "y": y},
            r"missing key\(s\) x \(found images, y\); accepted: x uint8",
        ),
        "dtype": ({"x": x.astype(np.float32), "y": y}, r"x is float32 \(4, 8, 8, 3\); accepted"),
        "shape": (
            {"x": x[..., 0], "y": y},
            r"x is uint8 \(4, 8, 8\); accepted: x uint8 \(N,H,W,3\)",
        ),
        "y": ({"x": x, "y": y.astype(np.float64)}, r"y is float64 \(4,\); accepted"),
        "count": ({"x": x, "y": y[:3]}, "x has 4 images but y has 3 labels"),
        "empty": ({"x": x[:0], "y": y[:0]}, "x holds no images"),
        "names": ({"x": x, "y": y, "labels": np.arange(2)}, r"labels is int64 \(2,\); accepted"),
    }
    for name, (arrays, match) in cases.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, **arrays)
        _raises(match, load_source, str(path))
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    _raises("not a readable .npz file", load_source, str(tmp_path / "broken.npz"))


def test_labels_out_of_range(tmp_path):
    x, y, _ = factory.make_arrays(2, 3, 8)
    np.savez(tmp_path / "d.npz", x=x, y=y, labels=np.array(["a", "b"]))
    _raises(
        r"labels out of range: found 0\.\.2, accepted 0\.\.1 \(2 class names\)",
        load_source,
        str(tmp_path / "d.npz"),
    )
    np.savez(tmp_path / "neg.npz", x=x, y=y - 1)
    (tmp_path / "labels.txt").write_text("a\nb\nc\n")
    _raises(r"labels out of range: found -1\.\.1", load_source, str(tmp_path / "neg.npz"))
    (tmp_path / "labels.txt").write_text("a\na\nb\n")
    _raises("class name 'a' appears twice", load_source, str(tmp_path / "neg.npz"))


def test_image_folder_problems(tmp_path):
    (tmp_path / "none").mkdir()
    _raises(
        "no images found; expected one sub-folder per class", load_source, str(tmp_path / "none")
    )
    factory.write_image_folder(tmp_path / "some", 2, 2, size=8)
    (tmp_path / "some" / "class02").mkdir()
    _raises("class folder 'class02' has no PNG/JPEG images", load_source, str(tmp_path / "some"))
    factory.write_corrupt_files(tmp_path / "some" / "class02")
    _raises("class folder 'class02' has no readable images", load_source, str(tmp_path / "some"))


def test_split_and_label_mode_misuse(tmp_path):
    factory.write_npz(tmp_path / "d.npz", 2, 2)
    _raises("has no train/test splits", load_source, str(tmp_path / "d.npz"), split="test")
    _raises("split 'dev' is unknown; accepted: train, test", load_source, "cifar10", split="dev")
    _raises(
        "label mode 'x' is unknown; accepted: fine, coarse", load_source, "cifar10", label_mode="x"
    )
    _raises(
        "coarse needs a y_coarse array",
        load_source,
        str(tmp_path / "d.npz"),
        label_mode="coarse",
    )
    folder, _, _ = factory.write_cifar10_pickles(tmp_path)
    _raises("applies only to CIFAR-100", load_source, str(folder), label_mode="coarse")
    _raises("contradicts split='train'", load_source, f"{folder}:test", split="train")


def test_pickle_with_foreign_objects_is_refused(tmp_path):
    folder, _, _ = factory.write_cifar10_pickles(tmp_path)
    with open(folder / "data_batch_1", "wb") as handle:
        pickle.dump({"data": np.zeros(3), "labels": [print]}, handle)
    _raises(
        r"not a CIFAR pickle batch \(refusing to load builtins.print\)", load_source, str(folder)
    )


def test_keras_download_failure_says_how_to_pass_a_local_copy(monkeypatch):
    import keras

    def offline():
        raise Exception("URL fetch failure on https://example.invalid: None -- no network")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    message = _raises("could not download cifar10", load_source, "cifar10")
    assert "no network" in message
    assert "pass a local copy instead: --data PATH with a .npz (x uint8 (N,H,W,3)" in message
    assert "a cifar-10-batches-py directory or an image folder" in message


def test_subset_errors():
    ds = _set(n_per_class=4, classes=3)
    _raises(
        r"unknown class 'dog'; valid: class00, class01, class02",
        select_classes,
        ds,
        ["class00", "dog"],
    )
    _raises(r"class index 5 is outside 0\.\.2", select_classes, ds, [5])
    _raises("name the same class twice", select_classes, ds, ["class00", 0])
    _raises("no classes given", select_classes, ds, [])
    _raises(r"train size 13 is outside 1\.\.12", balanced_subset, ds, 13, 0)
    _raises(r"train size 2 is smaller than the number of classes \(3\)", balanced_subset, ds, 2, 0)
    uneven = ds.take(np.flatnonzero(ds.y != 2)[:-1].tolist() + np.flatnonzero(ds.y == 2).tolist())
    _raises(
        r"class 'class01' has 3 images; a balanced train size of 11 needs 4 per class",
        balanced_subset,
        ImageSet(labels=ds.labels, y=uneven.y, x=uneven.x),
        11,
        0,
    )
    for fraction in (0.0, 1.0, -0.5, 2):
        _raises(f"validation fraction {fraction} is outside", stratified_split, ds, fraction, 0)
    lonely = ds.take(np.concatenate([np.flatnonzero(ds.y != 1), np.flatnonzero(ds.y == 1)[:1]]))
    _raises(
        "class 'class01' has 1 image; a validation split needs at least 2",
        stratified_split,
        lonely,
        0.2,
        0,
    )


def test_pipeline_argument_errors():
    ds = _set()
    _raises(
        "unknown augmentation 'rotate'; accepted: flip, crop",
        make_dataset,
        ds,
        image_size=8,
        batch_size=2,
        training=True,
        augment=["flip", "rotate"],
    )
    _raises("must be >= 1", make_dataset, ds, image_size=0, batch_size=2, training=False)
