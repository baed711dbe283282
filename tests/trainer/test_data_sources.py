"""Every data source format loads to the same arrays; labels, splits and skipped files."""

from __future__ import annotations

import numpy as np

from tests.trainer import data_factory as factory
from trainer.data import data_fingerprint, describe, load_labels_txt, load_source, read_images
from trainer.data.keras_cifar import CIFAR10_LABELS, CIFAR100_COARSE_LABELS


def _by_class(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(y, kind="stable")
    return x[order], y[order]


def test_every_format_loads_to_the_same_arrays(tmp_path):
    x, y, names = factory.write_npz(tmp_path / "d.npz", n_per_class=3, classes=10)
    factory.write_image_folder(tmp_path / "png", n_per_class=3, classes=10)
    folder, train, _ = factory.write_cifar10_pickles(tmp_path, n_per_class=3, classes=10)
    from_npz = load_source(str(tmp_path / "d.npz"))
    from_png = load_source(str(tmp_path / "png"))
    from_pickle = load_source(str(folder))
    assert from_npz.labels == from_png.labels == from_pickle.labels == names
    np.testing.assert_array_equal(from_npz.x, x)
    np.testing.assert_array_equal(from_npz.y, y)
    np.testing.assert_array_equal(from_pickle.x, train[0])
    np.testing.assert_array_equal(from_pickle.x, x)  # same generator, same order
    np.testing.assert_array_equal(from_pickle.y, y)
    sorted_x, sorted_y = _by_class(x, y)
    np.testing.assert_array_equal(from_png.x, sorted_x)
    np.testing.assert_array_equal(from_png.y, sorted_y)
    for ds in (from_npz, from_png, from_pickle):
        assert ds.x.dtype == np.uint8 and ds.y.dtype == np.int64 and ds.skipped == 0
    assert data_fingerprint(from_npz) == data_fingerprint(from_pickle)


def test_npz_label_names_from_array_sibling_file_or_default(tmp_path):
    (tmp_path / "a").mkdir()
    factory.write_npz(tmp_path / "a" / "d.npz", 2, 3)
    assert load_source(str(tmp_path / "a" / "d.npz")).labels == ["class00", "class01", "class02"]
    (tmp_path / "b").mkdir()
    factory.write_npz(tmp_path / "b" / "d.npz", 2, 3, with_labels=False, y_dtype="uint8")
    ds = load_source(str(tmp_path / "b" / "d.npz"))
    assert ds.labels == ["0", "1", "2"] and ds.y.dtype == np.int64
    (tmp_path / "b" / "labels.txt").write_text("red\ngreen\nblue\n\n")
    assert load_source(str(tmp_path / "b" / "d.npz")).labels == ["red", "green", "blue"]
    assert load_labels_txt(tmp_path / "b" / "labels.txt") == ["red", "green", "blue"]


def test_npz_accepts_keras_style_column_labels(tmp_path):
    x, y, _ = factory.make_arrays(2, 3, 8)
    np.savez(tmp_path / "k.npz", x=x, y=y.reshape(-1, 1).astype(np.int32))
    ds = load_source(str(tmp_path / "k.npz"))
    assert ds.y.shape == (6,)
    np.testing.assert_array_equal(ds.y, y)


def test_jpeg_folder_decodes_close_to_the_written_pixels(tmp_path):
    x, y, _ = factory.write_image_folder(tmp_path / "jpg", 2, 3, size=24, fmt="jpg")
    ds = load_source(str(tmp_path / "jpg"))
    np.testing.assert_array_equal(ds.y, y)
    assert np.abs(ds.x.astype(float) - x).mean() < 3.0


def test_folder_can_stay_on_disk_and_mixed_sizes_do(tmp_path):
    factory.write_image_folder(tmp_path / "png", 2, 3, size=16)
    lazy = load_source(str(tmp_path / "png"), in_memory=False)
    eager = load_source(str(tmp_path / "png"))
    assert lazy.x is None and len(lazy.paths) == 6
    np.testing.assert_array_equal(read_images(lazy, np.arange(6)), eager.x)
    written = factory.write_mixed_folder(tmp_path / "mixed", classes=2)
    mixed = load_source(str(tmp_path / "mixed"))
    assert mixed.x is None
    assert mixed.paths == [p for p, _ in written]
    assert mixed.y.tolist() == [label for _, label in written]
    assert read_images(mixed, [0, 1], image_size=8).shape == (2, 8, 8, 3)
    assert "files decoded on the fly" in describe(mixed)


def test_corrupt_images_are_skipped_and_counted(tmp_path):
    factory.write_image_folder(tmp_path / "png", 2, 2, size=16)
    bad = factory.write_corrupt_files(tmp_path / "png" / "class01")
    for in_memory in (None, False):
        ds = load_source(str(tmp_path / "png"), in_memory=in_memory)
        assert ds.skipped == len(bad) == 3
        assert len(ds) == 4
        assert "3 unreadable skipped" in describe(ds)
        assert ds.notes and "skipped 3 unreadable" in ds.notes[0]


def test_cifar_pickle_splits_and_label_modes(tmp_path):
    folder, _, test = factory.write_cifar10_pickles(tmp_path)
    for ds in (load_source(f"{folder}:test"), load_source(str(folder), split="test")):
        np.testing.assert_array_equal(ds.x, test[0])
        np.testing.assert_array_equal(ds.y, test[1])
    folder100, train, test100, coarse = factory.write_cifar100_pickles(tmp_path)
    fine = load_source(str(folder100))
    np.testing.assert_array_equal(fine.x, train[0])
    np.testing.assert_array_equal(fine.y, train[1])
    grouped = load_source(str(folder100), label_mode="coarse")
    np.testing.assert_array_equal(grouped.y, coarse)
    assert grouped.labels == ["group00", "group01", "group02"]
    np.testing.assert_array_equal(load_source(f"{folder100}:test").x, test100[0])


def test_keras_cifar_loaders(monkeypatch):
    import keras

    x, y, _ = factory.make_arrays(2, 10, 32)
    xt, yt, _ = factory.make_arrays(1, 10, 32, seed=1)
    monkeypatch.setattr(
        keras.datasets.cifar10, "load_data", lambda: ((x, y[:, None]), (xt, yt[:, None]))
    )
    train = load_source("cifar10")
    assert train.labels == list(CIFAR10_LABELS) and train.source == "cifar10:train"
    np.testing.assert_array_equal(train.y, y)
    np.testing.assert_array_equal(load_source("cifar10", split="test").x, xt)

    seen = {}

    def cifar100(label_mode: str = "fine"):
        seen["mode"] = label_mode
        return (x, y[:, None]), (xt, yt[:, None])

    monkeypatch.setattr(keras.datasets.cifar100, "load_data", cifar100)
    coarse = load_source("cifar100", label_mode="coarse")
    assert seen["mode"] == "coarse" and coarse.labels == list(CIFAR100_COARSE_LABELS)


def test_fingerprint_is_stable_and_sensitive(tmp_path):
    factory.write_npz(tmp_path / "d.npz", 2, 3)
    first = load_source(str(tmp_path / "d.npz"))
    again = load_source(str(tmp_path / "d.npz"))
    assert data_fingerprint(first) == data_fingerprint(again)
    assert len(data_fingerprint(first)) == 64
    again.x[0, 0, 0, 0] ^= 1
    assert data_fingerprint(first) != data_fingerprint(again)
    relabelled = load_source(str(tmp_path / "d.npz"))
    relabelled.labels = ["a", "b", "c"]
    assert data_fingerprint(first) != data_fingerprint(relabelled)
    factory.write_mixed_folder(tmp_path / "m", classes=2)
    lazy = load_source(str(tmp_path / "m"))
    before = data_fingerprint(lazy)
    assert before == data_fingerprint(load_source(str(tmp_path / "m")))
    with open(lazy.paths[0], "ab") as handle:  # a rewritten file changes size and mtime
        handle.write(b"\0")
    assert data_fingerprint(lazy) != before
