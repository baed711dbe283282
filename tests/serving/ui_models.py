"""Tiny classifier SavedModels for the web page tests, shaped like the exporter's output.

``write_classifier`` writes ``base/VERSION`` with ``serving_default`` (image float32
``[-1,16,16,3]``) and, unless ``with_bytes=False``, ``serve_bytes`` (PNG/JPEG bytes); both
return ``probabilities``, ``top_k_scores``, ``top_k_classes`` (the given labels, baked in) and
``top_k_ids``. The network is ``contract_models.make_probability_model`` (5 classes).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.serving.contract_models import IMAGE_SIZE, NUM_CLASSES, make_probability_model

SIZE = IMAGE_SIZE
REPORT = {
    "format_version": 1,
    "created_utc": "2026-01-02T03:04:05+00:00",
    "source": {"run_dir": "/secret/machine/path/runs/tiny", "backbone": "tiny-test-net"},
    "contract": {"image_size": IMAGE_SIZE, "num_classes": NUM_CLASSES, "top_k": 3},
    "parity": {
        "reference": "keras", "data_source": "/secret/machine/path/samples.npz",
        "n_samples": 32, "reference_accuracy": 0.9375, "passed": True,
        "formats": [{"format": "savedmodel", "file": "saved_model.pb", "precision": "float32",
                     "size_bytes": 111048, "top1_agreement": 1.0, "max_abs_diff": 0.0,
                     "accuracy": 0.9375, "latency_ms": {"1": 0.86, "32": 1.34},
                     "passed": True}],
    },
}


def write_classifier(base: Path, version: int, labels: list[str], top_k: int,
                     with_bytes: bool = True, report: dict | None = None) -> Path:
    """Write one version directory; ``report`` (if given) becomes ``export_report.json``."""
    import tensorflow as tf

    if len(labels) != NUM_CLASSES:
        raise ValueError(f"need {NUM_CLASSES} labels")
    model = make_probability_model(seed=0)
    table = tf.constant(labels)

    def heads(images):
        probs = model.probabilities(images)["probabilities"]
        top = tf.math.top_k(probs, k=top_k)
        return {"probabilities": probs, "top_k_scores": top.values,
                "top_k_ids": tf.cast(top.indices, tf.int64),
                "top_k_classes": tf.gather(table, top.indices)}

    def decode(data):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        return tf.image.resize(tf.cast(image, tf.float32), (SIZE, SIZE))

    class Classifier(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32, "image")])
        def serving_default(self, image):
            return heads(image)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "image_bytes")])
        def serve_bytes(self, image_bytes):
            spec = tf.TensorSpec([SIZE, SIZE, 3], tf.float32)
            return heads(tf.map_fn(decode, image_bytes, fn_output_signature=spec))

    module = Classifier()
    signatures = {"serving_default": module.serving_default}
    if with_bytes:
        signatures["serve_bytes"] = module.serve_bytes
    target = Path(base) / str(version)
    tf.saved_model.save(module, str(target), signatures=signatures)
    if report is not None:
        (target / "export_report.json").write_text(json.dumps(report), encoding="utf-8")
    return target
