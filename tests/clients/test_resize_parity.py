"""The client's resize (client-resize mode) matches tf.image.resize within 0.5 grey levels."""

import numpy as np
import pytest

from clients.prepare import ImageItem, Mode, make_groups


@pytest.mark.parametrize("size", [128, 96, 32])
def test_client_resize_matches_tensorflow(images: list[np.ndarray], size: int) -> None:
    tf = pytest.importorskip("tensorflow")
    items = [ImageItem(array=im) for im in images]
    groups = make_groups(items, Mode.CLIENT_RESIZE, (size, size))
    ours = np.concatenate([g.tensor for g in groups])
    for img, got in zip(images, ours, strict=True):
        rgb = img if img.ndim == 3 else img[..., None]
        rgb = np.repeat(rgb, 3, axis=-1) if rgb.shape[-1] == 1 else rgb[..., :3]
        ref = tf.image.resize(tf.cast(rgb, tf.float32), (size, size), method="bilinear",
                              antialias=False).numpy()
        assert got.dtype == np.float32 and got.shape == (size, size, 3)
        assert np.abs(got - ref).max() <= 0.5


def test_encoded_bytes_pass_through_and_arrays_become_png(images: list[np.ndarray]) -> None:
    raw = b"\x89PNG fake bytes are not decoded in encoded mode"
    groups = make_groups([ImageItem(encoded=raw), ImageItem(array=images[0])], Mode.ENCODED,
                         None)
    blobs = list(groups[0].tensor)
    assert blobs[0] == raw
    assert blobs[1].startswith(b"\x89PNG\r\n\x1a\n")


def test_server_resize_groups_by_size_and_converts(images: list[np.ndarray]) -> None:
    items = [ImageItem(array=im) for im in images]
    groups = make_groups(items, Mode.SERVER_RESIZE, None, batch_size=3)
    assert sorted(i for g in groups for i in g.indices) == list(range(len(images)))
    for g in groups:
        assert g.tensor.dtype == np.uint8 and g.tensor.shape[-1] == 3
        assert len(g.indices) <= 3
    shapes = {g.tensor.shape[1:3] for g in groups}
    assert shapes == {(32, 32), (40, 24)}
