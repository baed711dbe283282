"""``evaluate``: metrics agree with an independent prediction; files land beside the model or
in ``out``; labels are aligned by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.trainer.data_factory import write_npz
from trainer.errors import ModelError
from trainer.evaluate import evaluate


@pytest.fixture(scope="module")
def reference(small_cnn_run: Any, npz_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes of the run's model on every image of the npz, and the labels."""
    import keras

    model = keras.saving.load_model(small_cnn_run.run_dir / "model.keras", safe_mode=True)
    data = np.load(npz_path)
    probs = np.asarray(model(data["x"].astype("float32"), training=False))
    return probs, data["y"]


def test_evaluate_run_dir(small_cnn_run: Any, npz_path: Path, tmp_path: Path,
                          reference: tuple[np.ndarray, np.ndarray]) -> None:
    probs, y = reference
    result = evaluate(small_cnn_run.run_dir, str(npz_path), out=tmp_path / "eval")
    assert result.num_images == len(y)
    assert result.top1 == pytest.approx(float(np.mean(probs.argmax(1) == y)))
    assert result.top_k == 4 and result.top5 == 1.0  # 4 classes: top-4 always contains it
    assert result.confusion.sum() == len(y)
    assert np.trace(result.confusion) == int(np.sum(probs.argmax(1) == y))
    for i, label in enumerate(result.labels):
        assert result.per_class[label] == pytest.approx(float(np.mean(probs[y == i].argmax(1)
                                                                      == i)))
    saved = json.loads((tmp_path / "eval" / "eval_metrics.json").read_text())
    assert saved["top1_accuracy"] == result.top1
    cm = json.loads((tmp_path / "eval" / "eval_confusion_matrix.json").read_text())
    assert cm["matrix"] == result.confusion.tolist() and cm["labels"] == result.labels
    assert (tmp_path / "eval" / "eval_confusion_matrix.png").stat().st_size > 0


def test_evaluate_keras_file_beside_model(small_cnn_run: Any, npz_path: Path,
                                          reference: tuple[np.ndarray, np.ndarray]) -> None:
    probs, y = reference
    result = evaluate(small_cnn_run.run_dir / "model.keras", str(npz_path))
    assert Path(result.files[0]).parent == small_cnn_run.run_dir
    assert result.top1 == pytest.approx(float(np.mean(probs.argmax(1) == y)))


def test_labels_aligned_by_name(small_cnn_run: Any, tmp_path: Path) -> None:
    # 6 classes named class00..class05: the model knows class00..class03 only
    path = tmp_path / "six.npz"
    x, y, _ = write_npz(path, n_per_class=3, classes=6, seed=5)
    result = evaluate(small_cnn_run.run_dir, str(path), out=tmp_path)
    assert result.num_images == int(np.sum(y < 4))


def test_missing_model(tmp_path: Path, npz_path: Path) -> None:
    with pytest.raises(ModelError, match="no model at"):
        evaluate(tmp_path, str(npz_path))


def test_flip_tta_averages_each_image_and_its_mirror(small_cnn_run: Any, npz_path: Path,
                                                     tmp_path: Path) -> None:
    import keras

    model = keras.saving.load_model(small_cnn_run.run_dir / "model.keras", safe_mode=True)
    data = np.load(npz_path)
    x = data["x"].astype("float32")
    expected = (np.asarray(model(x, training=False))
                + np.asarray(model(x[:, :, ::-1], training=False))) / 2
    result = evaluate(small_cnn_run.run_dir, str(npz_path), out=tmp_path, tta="flip")
    saved = np.load(tmp_path / "eval_predictions.npz")
    np.testing.assert_array_equal(saved["y"], data["y"])  # the file's order
    np.testing.assert_allclose(saved["probs"], expected, atol=1e-5)
    assert result.top1 == pytest.approx(float(np.mean(expected.argmax(1) == data["y"])))
    assert json.loads((tmp_path / "eval_metrics.json").read_text())["tta"] == "flip"


def test_unknown_tta_is_refused(small_cnn_run: Any, npz_path: Path) -> None:
    from trainer.errors import DataError

    with pytest.raises(DataError, match="--tta 'rotate': accepted: none, flip"):
        evaluate(small_cnn_run.run_dir, str(npz_path), tta="rotate")
