"""Converter failures name the format and the operation that could not be converted."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.errors import ConversionError


@pytest.fixture(scope="module")
def unconvertible(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SavedModel whose serving_default uses Igamma: no TFLite builtin, no ONNX op."""
    import tensorflow as tf

    class Odd(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4, 4, 3], tf.float32, name="image")])
        def serve(self, image):
            mean = tf.reduce_mean(image, axis=[1, 2])
            return {"probabilities": tf.nn.softmax(tf.math.igamma(mean + 1.0, mean + 1.0))}

    module = Odd()
    path = tmp_path_factory.mktemp("odd")
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def test_tflite_failure_names_op(unconvertible: Path) -> None:
    from exporter.tflite_export import convert_tflite

    with pytest.raises(
        ConversionError, match=r"TFLite float32 conversion failed \(unsupported op: tf\.Igamma\)"
    ) as info:
        convert_tflite(unconvertible, "float32")
    assert "\n" not in str(info.value)


def test_onnx_failure_names_op(unconvertible: Path) -> None:
    from exporter.onnx_export import convert_onnx

    with pytest.raises(
        ConversionError, match="ONNX conversion \\(opset 17\\) failed: unsupported op: Igamma"
    ):
        convert_onnx(unconvertible, 4, 17, {})


def test_int8_needs_calibration(unconvertible: Path) -> None:
    from exporter.tflite_export import convert_tflite

    with pytest.raises(ConversionError, match="int8 needs calibration images"):
        convert_tflite(unconvertible, "int8", None)
