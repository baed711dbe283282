"""The numpy contract resize equals tf.image.resize (bilinear, half-pixel, no antialias)."""

import numpy as np
import pytest

from serving.codecs.resize import resize_bilinear, to_rgb


@pytest.mark.parametrize(
    ("h", "w", "size"),
    [(32, 32, 128), (32, 32, 224), (300, 200, 96), (17, 45, 32), (32, 32, 32), (5, 7, 3)],
)
def test_resize_matches_tensorflow(h: int, w: int, size: int) -> None:
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(h * w + size)
    images = rng.integers(0, 256, (2, h, w, 3)).astype(np.uint8)
    ours = resize_bilinear(images, size)
    ref = tf.image.resize(tf.cast(images, tf.float32), (size, size), antialias=False).numpy()
    assert ours.dtype == np.float32
    assert ours.shape == (2, size, size, 3)
    assert np.abs(ours - ref).max() <= 1e-3


def test_single_image_and_grey() -> None:
    grey = np.arange(16, dtype=np.uint8).reshape(4, 4)
    rgb = to_rgb(grey)
    assert rgb.shape == (4, 4, 3)
    assert (rgb[..., 0] == rgb[..., 2]).all()
    out = resize_bilinear(rgb, 8)
    assert out.shape == (8, 8, 3)
    # A constant image stays constant under bilinear interpolation.
    flat = resize_bilinear(np.full((3, 5, 3), 7, np.uint8), 11)
    assert np.allclose(flat, 7.0)


def test_rejects_bad_channels() -> None:
    with pytest.raises(ValueError, match="channels"):
        to_rgb(np.zeros((4, 4, 2)))
