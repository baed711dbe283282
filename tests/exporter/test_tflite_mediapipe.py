"""A real on-device consumer: MediaPipe Tasks' ImageClassifier loads every exported variant
straight from the version directory and names the classes from the TFLite Metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.exporter.run_factory import LABELS

FILES = ["model.tflite", "model_float16.tflite", "model_dynamic.tflite", "model_int8.tflite"]


@pytest.mark.parametrize("file", FILES)
def test_mediapipe_image_classifier(version_dir: Path, run_dir: Path, file: str) -> None:
    import keras
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    images = np.load(run_dir / "samples.npz")["x_val"][:16]
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    expected = [LABELS[i] for i in model.predict(images.astype(np.float32), verbose=0).argmax(1)]
    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=str(version_dir / file)), max_results=4
    )
    names, scores = [], []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for image in images:
            frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
            (head,) = classifier.classify(frame).classifications
            names.append(head.categories[0].category_name)
            scores.append(sum(c.score for c in head.categories))
    assert names == expected
    assert set(names) <= set(LABELS)
    np.testing.assert_allclose(scores, 1.0, atol=0.02)  # all 4 classes: probabilities sum to 1
