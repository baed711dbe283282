"""The input model (``--input-noise``, ``--upsample``): neither changes inference results,
the noise exists only in training, the model input stays what clients send, the model loads
with ``safe_mode=True`` and the exported inference graph holds no random op."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from trainer.cli import app
from trainer.model import build_classifier

S, K = 12, 3


def _models() -> tuple[Any, Any]:
    """Same weights: (noise + upsample, upsample only)."""
    import keras

    keras.utils.set_random_seed(5)
    noisy = build_classifier("small_cnn", 3, S, input_noise=20.0, upsample=K)  # 20 gray levels
    plain = build_classifier("small_cnn", 3, S, upsample=K)
    plain.set_weights(noisy.get_weights())  # the input model has no weights
    return noisy, plain


@pytest.fixture(scope="module")
def models() -> tuple[Any, Any]:
    return _models()


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 255, (4, S, S, 3)).astype("float32")


def test_input_stays_s_backbone_sees_s_times_k(models: tuple[Any, Any]) -> None:
    noisy, _ = models
    assert noisy.input_shape == (None, S, S, 3)
    assert noisy.get_layer("backbone").input_shape == (None, S * K, S * K, 3)
    assert noisy.get_layer("input_noise").count_params() == 0


def test_inference_is_unchanged_noise_only_in_training(models: tuple[Any, Any],
                                                       images: np.ndarray) -> None:
    noisy, plain = models
    ref = np.asarray(plain(images, training=False))
    np.testing.assert_array_equal(np.asarray(noisy(images, training=False)), ref)
    np.testing.assert_array_equal(np.asarray(noisy.predict(images, verbose=0)),
                                  np.asarray(plain.predict(images, verbose=0)))
    # small_cnn has no Dropout/BatchNorm: only the noise behaves differently in training
    np.testing.assert_allclose(np.asarray(plain(images, training=True)), ref, atol=1e-6)
    assert not np.allclose(np.asarray(noisy(images, training=True)), ref, atol=1e-4)


def test_upsampling_is_nearest_neighbour_before_the_backbone(models: tuple[Any, Any],
                                                             images: np.ndarray) -> None:
    _, plain = models
    big = np.repeat(np.repeat(images, K, axis=1), K, axis=2) / 255.0  # unit preprocessing
    features = plain.get_layer("backbone")(big)
    probs = plain.get_layer("head_output")(features)
    np.testing.assert_allclose(np.asarray(plain(images)), np.asarray(probs), atol=1e-6)


def test_loads_with_safe_mode_and_exports_without_random_ops(models: tuple[Any, Any],
                                                             images: np.ndarray,
                                                             tmp_path: Path) -> None:
    import keras

    noisy, plain = models
    noisy.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(np.asarray(loaded(images, training=False)),
                                  np.asarray(plain(images, training=False)))
    loaded.export(str(tmp_path / "saved"), format="tf_saved_model", verbose=False)
    import tensorflow as tf

    module = tf.saved_model.load(str(tmp_path / "saved"))  # keep it referenced while called
    served = module.serve(tf.constant(images))
    np.testing.assert_allclose(np.asarray(served), np.asarray(plain(images, training=False)),
                               atol=1e-6)
    graph = (tmp_path / "saved" / "saved_model.pb").read_bytes()
    for op in (b"RandomStandardNormal", b"StatelessRandomNormal", b"RandomUniform"):
        assert op not in graph, op


def test_fit_with_input_model_keeps_the_contract_size(npz_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "fit", "--data", str(npz_path), "--out", str(out), "--backbone", "small_cnn",
        "--weights", "none", "--epochs", "1", "--batch-size", "16", "--val-split", "0.25",
        "--image-size", "16", "--upsample", "2", "--input-noise", "8", "--quiet"])
    assert result.exit_code == 0, result.output
    card = json.loads((out / "model.json").read_text())
    assert card["image_size"] == 16
    assert "upsample: 2" in (out / "config.yaml").read_text()
    import keras

    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert model.input_shape == (None, 16, 16, 3)
    assert model.get_layer("backbone").input_shape == (None, 32, 32, 3)


def test_init_from_skips_the_weightless_input_model(models: tuple[Any, Any]) -> None:
    """A run without noise layers can seed one with them (and back)."""
    import keras

    from trainer.transfer import init_from_model

    noisy, plain = models
    keras.utils.set_random_seed(9)
    target = build_classifier("small_cnn", 5, S, input_noise=4.0, upsample=K)
    report = init_from_model(target, plain)
    assert report.layers_loaded >= 2  # the backbone's conv1 and fc1 (input model skipped)
    for a, b in zip(target.get_layer("backbone").get_weights(),
                    plain.get_layer("backbone").get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    init_from_model(plain, noisy)  # the source's extra input layers are not needed
