"""The streaming tf.data pipeline: shapes, contract resize, shuffling, augmentation, resume."""

from __future__ import annotations

import numpy as np
import pytest

from tests.trainer import data_factory as factory
from trainer.data import ImageSet, load_source, make_dataset

tf = pytest.importorskip("tensorflow")


def _set(n_per_class: int = 3, classes: int = 4, size: int = 12) -> ImageSet:
    x, y, names = factory.make_arrays(n_per_class, classes, size)
    return ImageSet(labels=names, y=y, x=x, source="test")


def _collect(dataset) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for batch_x, batch_y in dataset:
        images.append(batch_x.numpy())
        labels.append(batch_y.numpy())
    return np.concatenate(images), np.concatenate(labels)


def _contract_resize(image: np.ndarray, size: int) -> np.ndarray:
    resized = tf.image.resize(image.astype(np.float32), (size, size), "bilinear", antialias=False)
    return resized.numpy()


def test_batches_shapes_dtypes_and_range():
    ds = _set()  # 12 images
    dataset = make_dataset(ds, image_size=20, batch_size=5, training=False)
    batches = list(dataset)
    assert [int(b[0].shape[0]) for b in batches] == [5, 5, 2]  # drop_remainder=False
    assert int(dataset.cardinality()) == 3
    endless = make_dataset(ds, image_size=20, batch_size=5, training=True, repeat=True)
    assert int(endless.cardinality()) == int(tf.data.INFINITE_CARDINALITY)
    images, labels = batches[0]
    assert images.dtype == tf.float32 and images.shape[1:] == (20, 20, 3)
    assert labels.dtype == tf.int64 and labels.shape == (5,)
    everything, _ = _collect(dataset)
    assert everything.min() >= 0.0 and everything.max() <= 255.0


def test_evaluation_keeps_order_and_uses_the_contract_resize():
    ds = _set(size=12)
    for size in (20, 7):
        images, labels = _collect(make_dataset(ds, image_size=size, batch_size=4, training=False))
        np.testing.assert_array_equal(labels, ds.y)
        np.testing.assert_array_equal(images, _contract_resize(ds.x, size))
    same, _ = _collect(make_dataset(ds, image_size=12, batch_size=4, training=False))
    np.testing.assert_array_equal(same, ds.x.astype(np.float32))


def test_files_of_mixed_sizes_and_modes_are_decoded_to_rgb_and_resized(tmp_path):
    from PIL import Image

    written = factory.write_mixed_folder(tmp_path / "mixed", classes=2)
    ds = load_source(str(tmp_path / "mixed"))
    assert ds.paths is not None
    images, labels = _collect(make_dataset(ds, image_size=24, batch_size=3, training=False))
    assert labels.tolist() == [label for _, label in written]
    for image, (path, _) in zip(images, written, strict=True):
        if path.endswith(".png"):  # PIL and TF decode PNG identically
            with Image.open(path) as source:
                pixels = np.asarray(source.convert("RGB"))
        else:
            raw = tf.io.read_file(path)
            pixels = tf.image.decode_jpeg(raw, channels=3).numpy()
        np.testing.assert_array_equal(image, _contract_resize(pixels, 24))


def test_training_shuffles_every_epoch_deterministically_and_keeps_pairs():
    ds = _set(n_per_class=4, classes=3, size=6)
    dataset = make_dataset(ds, image_size=6, batch_size=5, training=True, seed=3)
    first, first_y = _collect(dataset)
    second, _ = _collect(dataset)
    assert not np.array_equal(first, second)  # reshuffled on the next iteration
    lookup = {img.astype(np.uint8).tobytes(): int(lbl) for img, lbl in zip(ds.x, ds.y, strict=True)}
    assert sorted(lookup[i.astype(np.uint8).tobytes()] for i in first) == sorted(ds.y.tolist())
    assert [lookup[i.astype(np.uint8).tobytes()] for i in first] == first_y.tolist()
    fresh, _ = _collect(make_dataset(ds, image_size=6, batch_size=5, training=True, seed=3))
    np.testing.assert_array_equal(fresh, first)
    other, _ = _collect(make_dataset(ds, image_size=6, batch_size=5, training=True, seed=4))
    assert not np.array_equal(other, first)
    ordered, _ = _collect(
        make_dataset(ds, image_size=6, batch_size=5, training=True, shuffle=False)
    )
    np.testing.assert_array_equal(ordered, ds.x.astype(np.float32))


def test_augmentation_only_when_training():
    ds = _set()
    plain, _ = _collect(make_dataset(ds, image_size=16, batch_size=4, training=False))
    evaluated, _ = _collect(
        make_dataset(ds, image_size=16, batch_size=4, training=False, augment=["flip", "crop"])
    )
    np.testing.assert_array_equal(evaluated, plain)


def test_flip_mirrors_some_images_and_keeps_others():
    ds = _set(n_per_class=8, classes=2, size=10)
    expected = _contract_resize(ds.x, 16)
    images, _ = _collect(
        make_dataset(
            ds, image_size=16, batch_size=8, training=True, shuffle=False, augment=["flip"]
        )
    )
    flipped = [np.array_equal(img, ref[:, ::-1]) for img, ref in zip(images, expected, strict=True)]
    kept = [np.array_equal(img, ref) for img, ref in zip(images, expected, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert any(flipped) and any(kept)


def _crop_offsets(source_size: int, out_size: int) -> list[tuple[int, int]]:
    """Crop-augment in-memory images of ``source_size`` px into ``out_size`` px and return,
    per image, the window offset into the reflect-padded source (pad = side // 8) whose
    contract resize equals it; fails when an image is no such window."""
    ds = _set(n_per_class=4, classes=2, size=source_size)
    pad = source_size // 8
    images, _ = _collect(
        make_dataset(
            ds, image_size=out_size, batch_size=8, training=True, shuffle=False,
            augment=["crop"],
        )
    )
    offsets = []
    for image, source in zip(images, ds.x.astype(np.float32), strict=True):
        padded = np.pad(source, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
        found = [
            (dy, dx)
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
            if _same(_window(padded, dy, dx, source_size, out_size), image, source_size == out_size)
        ]
        assert found, "augmented image is not a (resized) window of the padded source"
        offsets.append(found[0])
    return offsets


def _same(a: np.ndarray, b: np.ndarray, exact: bool) -> bool:
    return bool(np.array_equal(a, b)) if exact else bool(np.allclose(a, b))


def _window(padded: np.ndarray, dy: int, dx: int, side: int, out_size: int) -> np.ndarray:
    window = padded[dy : dy + side, dx : dx + side]
    return window if side == out_size else _contract_resize(window, out_size)


def test_crop_is_a_window_of_the_reflect_padded_image():
    assert len(set(_crop_offsets(16, 16))) > 1


def test_in_memory_images_are_cropped_at_source_size_then_resized():
    """Upscaled in-memory images: the window is taken from the source pixels (pad = source
    side // 8), and the result is that window through the contract resize."""
    assert len(set(_crop_offsets(8, 24))) > 1


def test_augmentation_is_deterministic_under_a_seed():
    ds = _set()

    def run(seed: int) -> np.ndarray:
        dataset = make_dataset(
            ds, image_size=16, batch_size=4, training=True, augment=["flip", "crop"], seed=seed
        )
        return _collect(dataset)[0]

    np.testing.assert_array_equal(run(5), run(5))
    assert not np.array_equal(run(5), run(6))


def test_repeat_with_start_epoch_resumes_the_same_batches():
    ds = _set()  # 12 images, batch 5 -> 3 steps per epoch (5, 5, 2)
    options = {"image_size": 12, "batch_size": 5, "training": True, "augment": ["flip", "crop"]}
    stream = iter(make_dataset(ds, seed=9, repeat=True, **options))
    uninterrupted = [next(stream) for _ in range(6)]
    assert [int(b[1].shape[0]) for b in uninterrupted] == [5, 5, 2, 5, 5, 2]
    resumed = iter(make_dataset(ds, seed=9, repeat=True, start_epoch=1, **options))
    for (want_x, want_y), (got_x, got_y) in zip(uninterrupted[3:], resumed, strict=False):
        np.testing.assert_array_equal(got_x.numpy(), want_x.numpy())
        np.testing.assert_array_equal(got_y.numpy(), want_y.numpy())
    assert not np.array_equal(uninterrupted[0][0].numpy(), uninterrupted[3][0].numpy())


def test_datasets_on_one_array_share_one_tensor_copy() -> None:
    import gc

    import numpy as np

    from trainer.data import pipeline

    x = np.zeros((4, 8, 8, 3), np.uint8)
    first = pipeline._pixels(x)
    assert pipeline._pixels(x) is first and id(x) in pipeline._PIXELS
    key = id(x)
    del x, first
    gc.collect()
    assert key not in pipeline._PIXELS
