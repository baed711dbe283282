"""In-model preprocessing equals the Keras applications' preprocess_input functions."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.preprocessing import preprocessing_layers


def _apply(mode: str, x: np.ndarray) -> np.ndarray:
    out = x
    for layer in preprocessing_layers(mode):
        out = layer(out)
    return np.asarray(out)


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(2, 5, 7, 3)).astype(np.float32)
    x[0, 0, 0] = [0, 0, 0]
    x[0, 0, 1] = [255, 255, 255]
    return x


def test_caffe_is_exactly_bgr_minus_mean(pixels: np.ndarray) -> None:
    from keras.applications import vgg16

    expected = vgg16.preprocess_input(pixels.copy())
    np.testing.assert_array_equal(_apply("caffe", pixels), expected)


def test_caffe_layer_is_not_trainable() -> None:
    (layer,) = preprocessing_layers("caffe")
    assert layer.trainable is False


def test_tf_mode_matches_mobilenet(pixels: np.ndarray) -> None:
    from keras.applications import mobilenet

    expected = mobilenet.preprocess_input(pixels.copy())
    np.testing.assert_allclose(_apply("tf", pixels), expected, rtol=0, atol=1e-6)


def test_torch_mode_matches_imagenet_utils(pixels: np.ndarray) -> None:
    from keras.applications import imagenet_utils

    expected = imagenet_utils.preprocess_input(pixels.copy(), mode="torch")
    np.testing.assert_allclose(_apply("torch", pixels), expected, rtol=1e-5, atol=1e-5)


def test_unit_and_none(pixels: np.ndarray) -> None:
    np.testing.assert_allclose(_apply("unit", pixels), pixels / 255.0, atol=1e-7)
    assert preprocessing_layers("none") == []
