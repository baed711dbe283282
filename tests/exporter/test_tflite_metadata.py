"""TFLite Metadata of every exported .tflite, read back with the same schema classes and
checked field by field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exporter.tflite_metadata import (
    METADATA_NAME,
    MIN_PARSER_VERSION,
    ModelDescription,
    attach_metadata,
    build_metadata,
    read_metadata,
    summarize,
)
from tests.exporter.run_factory import LABELS

VARIANTS = {
    "model.tflite": ("float32", np.float32),
    "model_float16.tflite": ("float16", np.float32),
    "model_dynamic.tflite": ("dynamic", np.float32),
    "model_int8.tflite": ("int8", np.uint8),
}


@pytest.mark.parametrize("file", list(VARIANTS))
def test_metadata_fields(version_dir: Path, file: str) -> None:
    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta_fb

    precision, dtype = VARIANTS[file]
    meta, files = read_metadata((version_dir / file).read_bytes())
    assert meta is not None
    assert meta.name.decode() == "tiny" and meta.version.decode() == "1"
    assert f"TFLite {precision}" in meta.description.decode()
    assert "4 classes, 32x32 RGB" in meta.description.decode()
    assert meta.author.decode() == "tfserve-kit exporter"
    assert meta.license.decode().startswith("unspecified")
    assert meta.minParserVersion.decode() == MIN_PARSER_VERSION
    assert len(meta.subgraphMetadata) == 1
    subgraph = meta.subgraphMetadata[0]
    (image,) = subgraph.inputTensorMetadata
    assert image.name.decode() == "image"
    content = image.content
    assert content.contentPropertiesType == meta_fb.ContentProperties.ImageProperties
    assert content.contentProperties.colorSpace == meta_fb.ColorSpaceType.RGB
    (unit,) = image.processUnits
    assert unit.optionsType == meta_fb.ProcessUnitOptions.NormalizationOptions
    # the model takes 0..255 and normalizes inside: the runtime must not change the pixels
    assert list(unit.options.mean) == [0.0] and list(unit.options.std) == [1.0]
    assert list(image.stats.min) == [0.0] and list(image.stats.max) == [255.0]
    assert np.dtype(dtype).name in image.description.decode()
    (probs,) = subgraph.outputTensorMetadata
    assert probs.name.decode() == "probabilities"
    assert content_type(probs) == meta_fb.ContentProperties.FeatureProperties
    top = 255.0 if dtype == np.uint8 else 1.0
    assert list(probs.stats.min) == [0.0] and list(probs.stats.max) == [top]
    (labels,) = probs.associatedFiles
    assert labels.name.decode() == "labels.txt"
    assert labels.type == meta_fb.AssociatedFileType.TENSOR_AXIS_LABELS
    assert files == {"labels.txt": ("\n".join(LABELS) + "\n").encode()}


def content_type(tensor) -> int:
    return tensor.content.contentPropertiesType


def test_metadata_does_not_change_the_model(version_dir: Path) -> None:
    """The file with metadata still runs in LiteRT and has one output, probabilities."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(version_dir / "model.tflite"))
    runner = interpreter.get_signature_runner("serving_default")
    out = runner(image=np.zeros((2, 32, 32, 3), np.float32))
    assert set(out) == {"probabilities"} and out["probabilities"].shape == (2, 4)
    np.testing.assert_allclose(out["probabilities"].sum(1), 1.0, rtol=1e-5)


def test_summary_and_refusals(version_dir: Path) -> None:
    data = (version_dir / "model_int8.tflite").read_bytes()
    summary = summarize(data)
    assert summary["inputs"][0]["normalization"] == {"mean": [0.0], "std": [1.0]}
    assert summary["outputs"][0]["associated_files"] == ["labels.txt"]
    description = ModelDescription("m", "d", "2", "a", "l")
    again = build_metadata(description, 32, 4, np.uint8, np.uint8)
    with pytest.raises(ValueError, match="already has packed associated files"):
        attach_metadata(data, again, {"labels.txt": b"x\n"})
    with pytest.raises(ValueError, match=f"already has {METADATA_NAME}"):
        attach_metadata(_strip_zip(data), again, {})


def _strip_zip(data: bytes) -> bytes:
    """The flatbuffer part of a file with packed files (the zip starts at its first header)."""
    return data[: data.index(b"PK\x03\x04")]


def test_file_without_metadata() -> None:
    assert read_metadata(_plain_model()) == (None, {})
    assert summarize(_plain_model()) is None


def _plain_model() -> bytes:
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 2], tf.float32)])
    def double(x):
        return x * 2.0

    converter = tf.lite.TFLiteConverter.from_concrete_functions([double.get_concrete_function()])
    return converter.convert()
