"""Cached bottleneck features (``trainer.feature_cache``) and head training on them
(``trainer.feature_head``): hits, misses, corruption, races, and a complete model whose
predictions equal the head on cached features. Tiny models, generated data."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.trainer.data_factory import make_arrays
from trainer import feature_cache
from trainer.data import ImageSet, data_fingerprint
from trainer.errors import TrainerError
from trainer.feature_cache import FeatureKey, cached_features, model_digest, weights_id
from trainer.feature_head import (
    can_cache,
    estimated_speedup,
    feature_dataset,
    split_classifier,
    transplant_head,
)

SIZE = 16


@pytest.fixture(scope="module")
def images() -> ImageSet:
    x, y, labels = make_arrays(n_per_class=8, classes=3, size=SIZE, seed=5)
    return ImageSet(labels=labels, y=y, x=x, source="generated")


@pytest.fixture(scope="module")
def classifier() -> Any:
    """mini_vgg (avg pooling, BatchNorm) with the backbone frozen, 3 classes, 16 px."""
    import keras

    from trainer.freeze import apply_freeze
    from trainer.model import HeadConfig, build_classifier

    keras.utils.set_random_seed(7)
    model = build_classifier("mini_vgg", 3, SIZE, head=HeadConfig(dense=8, dropout=0.1))
    apply_freeze(model, "all", "frozen")
    return model


@pytest.fixture(scope="module")
def split(classifier: Any) -> Any:
    return split_classifier(classifier)


def _key(split: Any, ds: ImageSet, **changes: Any) -> FeatureKey:
    values = dict(backbone="mini_vgg", weights="none", image_size=SIZE, pooling=split.pooling,
                  data=data_fingerprint(ds), model=model_digest(split.extractor))
    values.update(changes)
    return FeatureKey(**values)


def test_miss_then_hit_returns_the_extractors_features(split: Any, images: ImageSet,
                                                       tmp_path: Path) -> None:
    key = _key(split, images)
    first = cached_features(split.extractor, images, key, tmp_path, batch_size=10)
    assert not first.hit and first.path.is_file()
    assert first.features.shape == (len(images), split.feature_dim) == (24, 128)
    direct = np.asarray(split.extractor(images.x.astype("float32"), training=False))
    np.testing.assert_allclose(first.features, direct, rtol=1e-5, atol=1e-6)
    second = cached_features(split.extractor, images, key, tmp_path)
    assert second.hit and second.path == first.path
    np.testing.assert_array_equal(second.features, first.features)
    assert second.compute_seconds == pytest.approx(first.compute_seconds, abs=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == [first.path.name]  # no temp files left


def test_every_key_part_separates_entries(split: Any, images: ImageSet, tmp_path: Path) -> None:
    key = _key(split, images)
    others = [_key(split, images, weights="imagenet"), _key(split, images, image_size=32),
              _key(split, images, data=data_fingerprint(images.take(np.arange(23)))),
              _key(split, images, model="0" * 64), _key(split, images, pooling="flatten")]
    assert len({k.digest() for k in [key, *others]}) == len(others) + 1


def test_weights_id_and_model_digest(tmp_path: Path, split: Any) -> None:
    path = tmp_path / "w.h5"
    path.write_bytes(b"abc")
    assert weights_id("none") == "none" and weights_id("imagenet") == "imagenet"
    assert weights_id(str(path)) == ("sha256:ba7816bf8f01cfea414140de5dae2223"
                                     "b00361a396177a9cb410ff61f20015ad")
    with pytest.raises(TrainerError, match="cannot read weights file"):
        weights_id(str(tmp_path / "missing.h5"))
    assert model_digest(split.extractor) == model_digest(split.extractor)
    assert model_digest(split.head) != model_digest(split.extractor)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = feature_cache.compute_features

    def counted(*args: Any, **kwargs: Any) -> np.ndarray:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(feature_cache, "compute_features", counted)
    return calls


def _rewrite(path: Path, features: np.ndarray, meta_changes: dict[str, Any]) -> None:
    with np.load(path) as entry:
        meta = json.loads(str(entry["meta"]))
    meta.update(meta_changes)
    with open(path, "wb") as handle:
        np.savez(handle, features=features, meta=np.array(json.dumps(meta)))


CORRUPTIONS = {  # damage -> (how, the reason the log must give)
    "truncated": (lambda p, f: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
                  "unreadable"),
    "flipped_byte": (lambda p, f: p.write_bytes(
        (lambda b: b[:400] + bytes([b[400] ^ 0xFF]) + b[401:])(p.read_bytes())), "CRC"),
    "checksum": (lambda p, f: _rewrite(p, f + 1.0, {}), "checksum mismatch"),
    "wrong_rows": (lambda p, f: _rewrite(p, f[:5], {"shape": [5, f.shape[1]]}),
                   "expected (24, 128)"),
    "wrong_width": (lambda p, f: _rewrite(p, f[:, :7], {"shape": [f.shape[0], 7]}),
                    "expected (24, 128)"),
    "wrong_key": (lambda p, f: _rewrite(p, f, {"key": {"backbone": "other"}}),
                  "key does not match"),
    "empty": (lambda p, f: p.write_bytes(b""), "unreadable"),
}


@pytest.mark.parametrize("damage", sorted(CORRUPTIONS))
def test_corrupt_entry_is_detected_logged_and_recomputed(
        damage: str, split: Any, images: ImageSet, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    key = _key(split, images)
    good = cached_features(split.extractor, images, key, tmp_path)
    how, reason = CORRUPTIONS[damage]
    how(good.path, good.features)
    calls = _counting(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="trainer.feature_cache"):
        again = cached_features(split.extractor, images, key, tmp_path)
    assert calls == [1] and not again.hit
    assert any("is corrupt" in r.getMessage() and reason in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    np.testing.assert_allclose(again.features, good.features, rtol=1e-6)
    assert cached_features(split.extractor, images, key, tmp_path).hit  # repaired on disk


def test_two_racing_runs_compute_once_each_and_share_one_entry(
        split: Any, images: ImageSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Both runs miss (a barrier holds them until both have computed); one publishes, the
    other reuses the published entry; no temporary file survives."""
    barrier = threading.Barrier(2, timeout=30)
    rows = np.arange(len(images) * 4, dtype=np.float32).reshape(len(images), 4)

    def slow_compute(extractor: Any, ds: ImageSet, size: int, batch: int = 64) -> np.ndarray:
        barrier.wait()
        return rows + float(threading.get_ident() % 7)  # each run's result is recognisable

    monkeypatch.setattr(feature_cache, "compute_features", slow_compute)
    key = _key(split, images)
    results: list[Any] = []
    with caplog.at_level(logging.INFO, logger="trainer.feature_cache"):
        threads = [threading.Thread(
            target=lambda: results.append(cached_features(None, images, key, tmp_path)))
            for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert len(results) == 2 and not any(r.hit for r in results)
    np.testing.assert_array_equal(results[0].features, results[1].features)  # loser reuses
    assert sum("stored" in r.getMessage() and "first" in r.getMessage()
               for r in caplog.records) == 1
    assert os.listdir(tmp_path) == [f"{key.digest()}.npz"]
    np.testing.assert_array_equal(
        cached_features(None, images, key, tmp_path).features, results[0].features)


def test_unwritable_cache_dir_is_one_line_error(split: Any, images: ImageSet,
                                                tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TrainerError, match=r"feature cache directory .* is not writable .*"
                                           r"--cache-dir") as info:
        cached_features(split.extractor, images, _key(split, images), blocker / "cache")
    assert "\n" not in str(info.value)
    if os.geteuid() != 0:  # root ignores permission bits
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(TrainerError, match="not writable"):
            cached_features(split.extractor, images, _key(split, images), locked)


def test_head_trained_on_features_completes_the_model(classifier: Any, split: Any,
                                                     images: ImageSet, tmp_path: Path) -> None:
    import keras

    assert can_cache(split) and split.pooling == "avg"
    cached = cached_features(split.extractor, images, _key(split, images), tmp_path / "cache")
    head = split.head
    head.compile(optimizer=keras.optimizers.Adam(0.05), loss="categorical_crossentropy")
    before = np.asarray(classifier.get_layer("head_output").get_weights()[0]).copy()
    data = feature_dataset(cached.features, images.y, 3, 8, training=True, seed=1)
    head.fit(data, epochs=2, steps_per_epoch=3, verbose=0, shuffle=False)
    assert not np.allclose(before, classifier.get_layer("head_output").get_weights()[0])
    path = tmp_path / "model.keras"
    classifier.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    x = images.x.astype("float32")
    on_features = np.asarray(head(cached.features, training=False))
    np.testing.assert_allclose(np.asarray(loaded(x, training=False)), on_features, atol=1e-5)
    # a head trained elsewhere (here: the trained one) transplants into another classifier
    output = loaded.get_layer("head_output")
    output.set_weights([np.zeros_like(w) for w in output.get_weights()])
    assert not np.allclose(np.asarray(loaded(x, training=False)), on_features, atol=1e-3)
    assert transplant_head(head, loaded) == 3  # head_dense, head_dropout (RNG), head_output
    np.testing.assert_allclose(np.asarray(loaded(x, training=False)), on_features, atol=1e-5)


def test_flat_backbone_splits_before_the_first_head_layer() -> None:
    from trainer.model import build_classifier

    model = build_classifier("small_cnn", 2, 8)
    parts = split_classifier(model)
    assert parts.pooling == "none" and parts.feature_dim == 100
    assert [layer.name for layer in parts.head.layers[1:]] == ["head_output"]
    assert not can_cache(parts)  # nothing frozen: features would change while training


def test_feature_dataset_is_deterministic_and_resumable() -> None:
    feats = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10) % 2

    def epochs(start: int, count: int) -> list[np.ndarray]:
        data = feature_dataset(feats, y, 2, 4, training=True, seed=3, start_epoch=start)
        batches = [np.asarray(x)[:, 0] for x, _ in data.take(3 * count)]
        return [np.concatenate(batches[i:i + 3]) for i in range(0, len(batches), 3)]

    full = epochs(0, 2)
    assert sorted(full[0]) == list(range(0, 20, 2)) and not np.array_equal(full[0], full[1])
    np.testing.assert_array_equal(epochs(1, 1)[0], full[1])
    ordered = [np.asarray(x) for x, _ in feature_dataset(feats, y, 2, 4, training=False)]
    np.testing.assert_array_equal(np.concatenate(ordered), feats)


def test_estimated_speedup() -> None:
    assert estimated_speedup(90.0, 9000, 1.0, 9000) == pytest.approx(91.0)
    assert estimated_speedup(90.0, 9000, 0.0, 9000) is None
