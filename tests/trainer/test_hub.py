"""``trainer.hub``: TF-Hub style feature-vector SavedModels as frozen Keras 3 backbones, on
tiny SavedModels the tests write themselves (no network)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trainer.errors import ModelError
from trainer.hub import (
    hub_backbone,
    hub_spec,
    inspect_feature_vector,
    is_hub,
    keras_name,
    load_hub_model,
    resolve_hub,
)

SIZE, DIM = 16, 6


def _weights() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(12, DIM)).astype("float32")


def _reference_features(images_0_255: np.ndarray) -> np.ndarray:
    """What the module below computes, in numpy, for 0..255 images (it sees 0..1)."""
    x = images_0_255.astype(np.float64) / 255.0
    stats = np.concatenate([x.mean(axis=(1, 2)), x.max(axis=(1, 2)), x.min(axis=(1, 2)),
                            x.std(axis=(1, 2))], axis=1)
    return np.maximum(stats @ _weights().astype(np.float64), 0.0)


def _save_module(path: Path, kind: str = "vector") -> Path:
    """A TF2 SavedModel like a TF-Hub image feature vector: ``__call__`` maps float32
    ``[None, H, W, 3]`` in 0..1 to ``[None, D]``. Other kinds break that contract."""
    import tensorflow as tf

    size = None if kind != "fixed224" else 224
    spec = tf.TensorSpec([None, size, size, 3], tf.float32)

    class FeatureVector(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(_weights())

        @tf.function(input_signature=[spec])
        def __call__(self, images: Any) -> Any:
            if kind == "map":
                return images * 2.0  # a feature map, not a vector
            stats = tf.concat([tf.reduce_mean(images, [1, 2]), tf.reduce_max(images, [1, 2]),
                               tf.reduce_min(images, [1, 2]),
                               tf.math.reduce_std(images, [1, 2])], axis=1)
            return tf.nn.relu(tf.matmul(stats, self.w))

    module = FeatureVector()
    if kind == "signature_only":
        root = tf.Module()  # no __call__: the function is reachable only as a signature
        root.inner = module
        tf.saved_model.save(root, str(path), signatures={"serving_default": module.__call__})
    else:
        tf.saved_model.save(module, str(path))
    return path


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_module(tmp_path_factory.mktemp("hub") / "feature_vector")


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (5, SIZE, SIZE, 3)).astype("float32")


@pytest.fixture(scope="module")
def classifier(module_dir: Path) -> Any:
    """The trainer's own build_classifier with the hub spec/backbone wired in as
    backbones.get_spec/create_backbone would do it."""
    import keras

    from trainer import model as model_module

    name = f"hub:{module_dir}"
    mp = pytest.MonkeyPatch()
    mp.setattr(model_module, "get_spec", lambda _: hub_spec(name))
    mp.setattr(model_module, "create_backbone",
               lambda _, size, weights, alpha: hub_backbone(name, size, weights))
    try:
        keras.utils.set_random_seed(4)
        # build_classifier names the model after its backbone argument: pass keras_name(...)
        return model_module.build_classifier(keras_name(name), 3, SIZE, weights="imagenet")
    finally:
        mp.undo()


def test_spec_maps_0_255_to_0_1_and_needs_no_pooling() -> None:
    spec = hub_spec("hub:some/dir")
    assert is_hub(spec.name) and spec.preprocessing == "unit" and spec.flat_features
    assert not is_hub("mobilenet")
    assert keras_name("hub:https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/"
                      "feature_vector/5") == "hub_feature_vector_5"
    assert keras_name("hub:../models/my model") == "hub_my_model"
    assert keras_name("mobilenet") == "mobilenet"
    with pytest.raises(ModelError, match="hub:HANDLE_OR_PATH"):
        hub_spec("hub:")


def test_classifier_features_are_the_module_on_0_1_input(classifier: Any, images: np.ndarray,
                                                         tmp_path: Path) -> None:
    from trainer.data import ImageSet, data_fingerprint
    from trainer.feature_cache import FeatureKey, cached_features, model_digest
    from trainer.feature_head import can_cache, split_classifier
    from trainer.freeze import apply_freeze

    assert [layer.name for layer in classifier.layers] == [
        "image", "preprocess_scale", "backbone", "head_output"]
    apply_freeze(classifier, "all", "frozen")
    parts = split_classifier(classifier)
    assert can_cache(parts) and parts.feature_dim == DIM
    np.testing.assert_allclose(np.asarray(parts.extractor(images)), _reference_features(images),
                               rtol=1e-4, atol=1e-5)
    # cached features work with a hub backbone
    ds = ImageSet(labels=["a", "b", "c"], y=np.arange(5) % 3, x=images.astype(np.uint8))
    key = FeatureKey("hub:x", "imagenet", SIZE, parts.pooling, data_fingerprint(ds),
                     model_digest(parts.extractor))
    cached = cached_features(parts.extractor, ds, key, tmp_path, batch_size=2)
    np.testing.assert_allclose(cached.features, _reference_features(images), rtol=1e-4,
                               atol=1e-5)
    probs = np.asarray(classifier(images))
    assert probs.shape == (5, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_model_keras_loads_only_through_the_trusted_loader(classifier: Any, module_dir: Path,
                                                           images: np.ndarray,
                                                           tmp_path: Path) -> None:
    import keras

    path = tmp_path / "model.keras"
    classifier.save(path)
    with pytest.raises(ValueError, match="TFSMLayer"):  # Keras' own safe_mode refusal
        keras.saving.load_model(path, safe_mode=True)
    with pytest.raises(ModelError, match="not in the trusted hub modules"):
        load_hub_model(path, trusted=[tmp_path])
    loaded = load_hub_model(path, trusted=[resolve_hub(f"hub:{module_dir}")])
    np.testing.assert_allclose(np.asarray(loaded(images)), np.asarray(classifier(images)),
                               atol=1e-6)


def test_trusted_loader_still_refuses_python_code(tmp_path: Path) -> None:
    import keras

    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ModelError, match="contains Python code"):
        load_hub_model(tmp_path / "lambda.keras", trusted=[])
    (tmp_path / "bad.keras").write_bytes(b"nope")
    with pytest.raises(ModelError, match="cannot read"):
        load_hub_model(tmp_path / "bad.keras")


@pytest.mark.parametrize(("kind", "message"), [
    ("map", r"not a feature-vector model: it returns shape \(2, 16, 16, 3\)"),
    ("signature_only", r"no callable __call__ \(signatures: serving_default\)"),
    ("fixed224", "does not take a float32 batch of 16x16x3 images"),
])
def test_not_a_feature_vector_savedmodel(tmp_path: Path, kind: str, message: str) -> None:
    path = _save_module(tmp_path / kind, kind)
    with pytest.raises(ModelError, match=message) as info:
        inspect_feature_vector(path, SIZE)
    assert "\n" not in str(info.value)


def test_paths_that_are_not_savedmodels(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a SavedModel directory"):
        inspect_feature_vector(tmp_path, SIZE)
    (tmp_path / "saved_model.pb").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="cannot be loaded as a TF2 SavedModel"):
        inspect_feature_vector(tmp_path, SIZE)
    with pytest.raises(ModelError, match="not found: give a local SavedModel directory"):
        resolve_hub(f"hub:{tmp_path / 'missing'}")


def test_weights_flag_does_not_apply(module_dir: Path) -> None:
    with pytest.raises(ModelError, match="--weights PATH does not apply"):
        hub_backbone(f"hub:{module_dir}", SIZE, "w.h5")
    with pytest.raises(ModelError, match="--weights none does not apply"):
        hub_backbone(f"hub:{module_dir}", SIZE, "none")


def test_handles_resolve_through_tensorflow_hub(module_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    handle = "https://tfhub.dev/google/example/feature_vector/1"
    fake = types.ModuleType("tensorflow_hub")
    fake.resolve = lambda h: str(module_dir) if h == handle else None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tensorflow_hub", fake)
    assert resolve_hub(f"hub:{handle}") == module_dir.resolve()

    def offline(h: str) -> str:
        raise OSError("URL fetch failure: Temporary failure in name resolution")

    fake.resolve = offline  # type: ignore[attr-defined]
    with pytest.raises(ModelError, match=r"cannot fetch hub module .*\(URL fetch failure.*"
                                         r"offline, download it elsewhere"):
        resolve_hub(f"hub:{handle}")
