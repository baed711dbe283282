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


def _reference_resize(images: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TensorFlow's ResizeBilinear formula written per output pixel row (slow, obvious)."""
    arr = images.astype(np.float32)
    _, in_h, in_w, _ = arr.shape

    def axis(in_size: int, out_size: int):
        scale = np.float32(in_size) / np.float32(out_size)
        src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
        lo = np.maximum(np.floor(src), 0).astype(int)
        hi = np.minimum(np.ceil(src), in_size - 1).astype(int)
        return lo, hi, (src - np.floor(src)).astype(np.float32)

    y_lo, y_hi, y_l = axis(in_h, out_h)
    x_lo, x_hi, x_l = axis(in_w, out_w)
    out = np.empty((arr.shape[0], out_h, out_w, arr.shape[3]), np.float32)
    for y in range(out_h):
        t, b = arr[:, y_lo[y]], arr[:, y_hi[y]]
        top = t[:, x_lo] + (t[:, x_hi] - t[:, x_lo]) * x_l[None, :, None]
        bottom = b[:, x_lo] + (b[:, x_hi] - b[:, x_lo]) * x_l[None, :, None]
        out[:, y] = top + (bottom - top) * y_l[y]
    return out


@pytest.mark.parametrize(
    ("shape", "size"),
    [((3, 32, 32, 3), (128, 128)), ((2, 300, 200, 3), (96, 96)), ((1, 5, 7, 1), (50, 3)),
     ((2, 32, 64, 4), (32, 128)), ((1, 64, 64, 3), (64, 20)), ((1, 1, 1, 3), (4, 4))],
)
def test_resize_is_bit_identical_to_the_formula(shape: tuple, size: tuple) -> None:
    rng = np.random.default_rng(sum(shape))
    images = rng.normal(0, 300, shape).astype(np.float32)
    images.flat[::37] = np.inf
    images.flat[::41] = np.nan
    with np.errstate(invalid="ignore"):
        ours = resize_bilinear(images, size)
        ref = _reference_resize(images, *size)
        strided = resize_bilinear(np.repeat(images, 2, axis=2)[:, :, ::2], size)
    assert np.array_equal(ours, ref, equal_nan=True)
    assert np.array_equal(strided, ref, equal_nan=True)


def test_resize_is_bit_exact_with_tensorflow() -> None:
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(7)
    for shape, size in [((4, 32, 32, 3), 128), ((2, 300, 200, 3), 96), ((1, 17, 45, 3), 32)]:
        images = rng.integers(0, 256, shape).astype(np.uint8)
        ref = tf.image.resize(tf.cast(images, tf.float32), (size, size), antialias=False)
        assert np.array_equal(resize_bilinear(images, size), ref.numpy())
