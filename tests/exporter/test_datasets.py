"""Sample loading and the contract resize on stored images of another size (e.g. CIFAR 32 px
for a 48 px model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exporter.datasets import load_calibration_set, load_eval_set, to_model_input
from exporter.errors import ExportError
from exporter.export import export_run
from tests.exporter.conftest import quick_config
from tests.exporter.run_factory import write_run_dir


def test_to_model_input_is_the_contract_resize() -> None:
    from serving.codecs.resize import resize_bilinear  # the numpy twin of the contract resize

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(3, 20, 27, 3), dtype=np.uint8)
    resized = to_model_input(images, 48)
    assert resized.dtype == np.float32 and resized.shape == (3, 48, 48, 3)
    np.testing.assert_allclose(resized, resize_bilinear(images, 48), atol=1e-4)
    same = to_model_input(images[:, :20, :20], 20)
    np.testing.assert_array_equal(same, images[:, :20, :20].astype(np.float32))


def test_npz_layouts(tmp_path: Path) -> None:
    x = np.zeros((5, 8, 8, 3), np.uint8)
    np.savez(tmp_path / "plain.npz", x=x, y=np.arange(5, dtype=np.uint8))
    plain = load_eval_set(tmp_path / "plain.npz", limit=3)
    assert len(plain) == 3 and plain.y.dtype == np.int64 and plain.source.endswith(":x")
    assert len(load_calibration_set(tmp_path / "plain.npz")) == 5
    np.savez(tmp_path / "bad.npz", images=x)
    with pytest.raises(ExportError, match="holds neither x_val nor x"):
        load_eval_set(tmp_path / "bad.npz")
    np.savez(tmp_path / "gray.npz", x=np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(ExportError, match=r"must be \(N, H, W, 3\)"):
        load_eval_set(tmp_path / "gray.npz")
    np.savez(tmp_path / "mismatch.npz", x=x, y=np.zeros(4))
    with pytest.raises(ExportError, match="5 images but 4 labels"):
        load_eval_set(tmp_path / "mismatch.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ExportError, match="not a readable .npz"):
        load_eval_set(tmp_path / "junk.npz")


def test_export_with_samples_stored_at_another_size(tmp_path: Path) -> None:
    run = write_run_dir(tmp_path / "run", image_size=48, sample_size=32, steps=30)
    result = export_run(quick_config(run, tmp_path / "models", families=("savedmodel", "onnx")))
    assert result.parity.passed and result.parity.n_samples == 64
    assert result.report["contract"]["image_size"] == 48
    warm = result.version_dir / "assets.extra" / "tf_serving_warmup_requests"
    assert warm.stat().st_size > 48 * 48 * 3 * 4  # requests carry resized 48 px images
