"""The four serving signatures around a Keras model (docs/contracts.md section 2).

``serving_default`` takes ``image`` float32 ``[-1, S, S, 3]`` (pixels 0..255); ``serve_raw``
takes uint8 images of any size and applies the contract resize in-graph; ``serve_bytes`` takes
PNG/JPEG bytes; ``classify`` takes serialized ``tf.Example``s with feature ``image/encoded``.
Predict signatures return ``probabilities``, ``top_k_scores``, ``top_k_classes`` (labels baked
into the graph) and ``top_k_ids``; ``classify`` returns ``classes`` and ``scores``.

The signatures are assembled with ``keras.export.ExportArchive``: it records the model's
variables as SavedModel objects, which the TFLite converter needs to freeze them (a plain
``tf.Module`` holding a Keras 3 model converts to a TFLite file that reads uninitialised
variables and outputs NaN).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

IMAGE_KEY = "image"
BYTES_KEY = "image_bytes"
CLASSIFY_INPUT_KEY = "inputs"
EXAMPLE_FEATURE = "image/encoded"
PREDICT_OUTPUTS = ("probabilities", "top_k_scores", "top_k_classes", "top_k_ids")
CLASSIFY_OUTPUTS = ("classes", "scores")
SIGNATURE_NAMES = ("serving_default", "serve_raw", "serve_bytes", "classify")
CLASSIFY_METHOD = "tensorflow/serving/classify"


def build_export_archive(model: Any, image_size: int, labels: Sequence[str], top_k: int) -> Any:
    """Return a ``keras.export.ExportArchive`` tracking ``model`` with the four contract
    signatures registered as endpoints (write it with ``archive.write_out(path)``)."""
    import keras
    import tensorflow as tf

    size = int(image_size)
    k = int(top_k)
    label_list = [str(label) for label in labels]

    def contract_resize(images: Any) -> Any:
        floats = tf.cast(images, tf.float32)
        return tf.image.resize(floats, (size, size), method="bilinear", antialias=False)

    def decode_one(encoded: Any) -> Any:
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        return contract_resize(image)

    def decode_batch(encoded: Any) -> Any:
        spec = tf.TensorSpec([size, size, 3], tf.float32)
        return tf.map_fn(decode_one, encoded, fn_output_signature=spec)

    def predict(images: Any) -> dict[str, Any]:
        probabilities = tf.cast(model(images, training=False), tf.float32)
        scores, ids = tf.math.top_k(probabilities, k=k)
        classes = tf.gather(tf.constant(label_list, dtype=tf.string), ids)
        return {
            "probabilities": probabilities,
            "top_k_scores": scores,
            "top_k_classes": classes,
            "top_k_ids": tf.cast(ids, tf.int64),
        }

    def serving_default(image: Any) -> dict[str, Any]:
        return predict(image)

    def serve_raw(image: Any) -> dict[str, Any]:
        return predict(contract_resize(image))

    def serve_bytes(image_bytes: Any) -> dict[str, Any]:
        return predict(decode_batch(image_bytes))

    def classify(inputs: Any) -> dict[str, Any]:
        spec = {EXAMPLE_FEATURE: tf.io.FixedLenFeature([], tf.string)}
        features = tf.io.parse_example(inputs, spec)
        outputs = predict(decode_batch(features[EXAMPLE_FEATURE]))
        return {"classes": outputs["top_k_classes"], "scores": outputs["top_k_scores"]}

    endpoints = {
        "serving_default": (serving_default, tf.TensorSpec([None, size, size, 3], tf.float32)),
        "serve_raw": (serve_raw, tf.TensorSpec([None, None, None, 3], tf.uint8)),
        "serve_bytes": (serve_bytes, tf.TensorSpec([None], tf.string)),
        "classify": (classify, tf.TensorSpec([None], tf.string)),
    }
    input_names = {
        "serving_default": IMAGE_KEY,
        "serve_raw": IMAGE_KEY,
        "serve_bytes": BYTES_KEY,
        "classify": CLASSIFY_INPUT_KEY,
    }
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (fn, spec) in endpoints.items():
        named = tf.TensorSpec(spec.shape, spec.dtype, name=input_names[name])
        archive.add_endpoint(name, fn, input_signature=[named])
    return archive
