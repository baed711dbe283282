"""A tiny "exported" contract model in all three formats, for backend and lifecycle tests.

``write_contract_version`` writes a version directory shaped like the exporter's
(docs/contracts.md section 2): a SavedModel with the four contract signatures, ``model.onnx``
(tf2onnx), ``model.tflite`` (TFLiteConverter), ``labels.txt`` and ``export_report.json`` with
the ``contract`` block. All three formats come from the same TF function (a 3x3 conv, global
average pooling and a softmax over ``num_classes``), so their answers must agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

IMAGE_SIZE = 16
NUM_CLASSES = 5
TOP_K = 3
LABELS = ["cat", "dog", "emu", "fox", "gnu"]


def _weights(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    conv = rng.normal(0, 0.5, (3, 3, 3, 8)).astype(np.float32)
    conv_b = rng.normal(0, 0.1, (8,)).astype(np.float32)
    dense = rng.normal(0, 1.0, (8, NUM_CLASSES)).astype(np.float32)
    dense_b = rng.normal(0, 0.1, (NUM_CLASSES,)).astype(np.float32)
    return conv, conv_b, dense, dense_b


def make_probability_model(seed: int = 0):
    """A ``tf.Module`` whose ``probabilities`` maps image float32 ``[-1,S,S,3]`` (0..255) to
    ``{"probabilities": [-1,C]}`` with variables (so the SavedModel looks like a Keras one)."""
    import tensorflow as tf

    class Probabilities(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weights = [tf.Variable(w) for w in _weights(seed)]

        @tf.function(
            input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32, "image")]
        )
        def probabilities(self, image):
            conv, conv_b, dense, dense_b = self.weights
            x = image / 127.5 - 1.0
            x = tf.nn.relu(tf.nn.conv2d(x, conv, strides=2, padding="SAME") + conv_b)
            x = tf.reduce_mean(x, axis=[1, 2])
            return {"probabilities": tf.nn.softmax(tf.matmul(x, dense) + dense_b)}

    return Probabilities()


def _contract_module(seed: int):
    import tensorflow as tf

    model = make_probability_model(seed)
    labels = tf.constant(LABELS)

    def heads(images):
        probs = model.probabilities(images)["probabilities"]
        top = tf.math.top_k(probs, k=TOP_K)
        return {
            "probabilities": probs,
            "top_k_scores": top.values,
            "top_k_ids": tf.cast(top.indices, tf.int64),
            "top_k_classes": tf.gather(labels, top.indices),
        }

    def decode(encoded):
        def one(data):
            image = tf.io.decode_image(data, channels=3, expand_animations=False)
            return tf.image.resize(tf.cast(image, tf.float32), (IMAGE_SIZE, IMAGE_SIZE))

        spec = tf.TensorSpec([IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32)
        return tf.map_fn(one, encoded, fn_output_signature=spec)

    class Contract(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        @tf.function(
            input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32, "image")]
        )
        def serving_default(self, image):
            return heads(image)

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, "image")])
        def serve_raw(self, image):
            return heads(tf.image.resize(tf.cast(image, tf.float32), (IMAGE_SIZE, IMAGE_SIZE)))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "image_bytes")])
        def serve_bytes(self, image_bytes):
            return heads(decode(image_bytes))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "inputs")])
        def classify(self, inputs):
            spec = {"image/encoded": tf.io.FixedLenFeature([], tf.string)}
            encoded = tf.io.parse_example(inputs, spec)["image/encoded"]
            out = heads(decode(encoded))
            return {"classes": out["top_k_classes"], "scores": out["top_k_scores"]}

    return Contract(), model


def _mark_classify(target: Path) -> None:
    """Set ``classify``'s method name to ``tensorflow/serving/classify`` (as the exporter does)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((target / "saved_model.pb").read_bytes())
    proto.meta_graphs[0].signature_def["classify"].method_name = "tensorflow/serving/classify"
    (target / "saved_model.pb").write_bytes(proto.SerializeToString())


def _write_onnx(model, target: Path) -> None:
    import onnx
    import tensorflow as tf
    import tf2onnx

    spec = [tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32, "image")]
    proto, _ = tf2onnx.convert.from_function(model.probabilities, input_signature=spec, opset=17)
    old = proto.graph.output[0].name
    for node in proto.graph.node:  # rename the graph output to the contract's name
        node.output[:] = ["probabilities" if o == old else o for o in node.output]
    proto.graph.output[0].name = "probabilities"
    onnx.save(proto, str(target))


def _write_tflite(model, target: Path) -> None:
    import tensorflow as tf

    concrete = model.probabilities.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    target.write_bytes(converter.convert())


def write_tflite_variants(target: Path, seed: int = 0) -> list[str]:
    """Add ``model_float16/_dynamic/_int8.tflite`` of the same function to ``target``; int8
    has uint8 input (scale 1, zero point 0 for 0..255 calibration) and uint8 output, like
    the exporter's."""
    import tensorflow as tf

    model = make_probability_model(seed)
    concrete = model.probabilities.get_concrete_function()
    rng = np.random.default_rng(seed)
    calibration = rng.integers(0, 256, (32, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
    calibration[0], calibration[1] = 0.0, 255.0  # the full pixel range: input scale 1
    written = []
    for variant in ("float16", "dynamic", "int8"):
        converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if variant == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if variant == "int8":
            converter.representative_dataset = lambda: ([x[None]] for x in calibration)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.uint8
            converter.inference_output_type = tf.uint8
        (target / f"model_{variant}.tflite").write_bytes(converter.convert())
        written.append(f"model_{variant}.tflite")
    return written


def write_contract_version(base_path: Path, version: int, seed: int = 0) -> Path:
    """Write ``base_path/version`` with SavedModel, ONNX, TFLite, labels and the report."""
    import tensorflow as tf

    module, model = _contract_module(seed)
    target = Path(base_path) / str(version)
    signatures = {
        name: getattr(module, name)
        for name in ("serving_default", "serve_raw", "serve_bytes", "classify")
    }
    tf.saved_model.save(module, str(target), signatures=signatures)
    _mark_classify(target)
    _write_onnx(model, target / "model.onnx")
    _write_tflite(model, target / "model.tflite")
    (target / "labels.txt").write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    contract = {
        "image_size": IMAGE_SIZE,
        "num_classes": NUM_CLASSES,
        "top_k": TOP_K,
        "input_name": "image",
        "labels_file": "labels.txt",
        "onnx": {"file": "model.onnx", "outputs": ["probabilities"]},
        "tflite": {"file": "model.tflite", "outputs": ["probabilities"]},
    }
    report = {"contract": contract}
    (target / "export_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return target


def png_bytes(image: np.ndarray, fmt: str = "PNG") -> bytes:
    """Encode an ``(H, W, 3)``, ``(H, W, 4)`` or ``(H, W)`` uint8 array (PNG unless ``fmt``)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt)
    return buffer.getvalue()


def example_bytes(encoded: bytes) -> bytes:
    """A serialized tf.Example with feature ``image/encoded``."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature["image/encoded"].bytes_list.value.append(encoded)
    return example.SerializeToString()


def install_version(template: Path, base_path: Path, version: int) -> Path:
    """Copy a version directory to ``base_path/version`` the way the exporter publishes one:
    under a temporary name first, then renamed, so the poller never sees it half-written."""
    import shutil

    Path(base_path).mkdir(parents=True, exist_ok=True)
    staging = Path(base_path) / f".tmp-{version}"
    shutil.copytree(template, staging)
    target = Path(base_path) / str(version)
    staging.rename(target)
    return target


def write_warmup_file(version_dir: Path, requests: list) -> Path:
    """Write ``assets.extra/tf_serving_warmup_requests`` with one PredictionLog per
    ``PredictRequest`` in ``requests``."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = Path(version_dir) / "assets.extra" / "tf_serving_warmup_requests"
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog()
            log.predict_log.request.CopyFrom(request)
            writer.write(log.SerializeToString())
    return path
