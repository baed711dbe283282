"""Every registry format runs in its own runtime with the documented I/O and agrees with the
Keras model (the parity report of the shared export)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from exporter.formats import REGISTRY
from exporter.parity import assert_parity
from exporter.signatures import PREDICT_OUTPUTS
from tests.exporter.run_factory import LABELS


@pytest.fixture(scope="module")
def x(run_dir: Path) -> np.ndarray:
    return np.load(run_dir / "samples.npz")["x_val"][:16].astype(np.float32)


@pytest.fixture(scope="module")
def keras_probs(run_dir: Path, x: np.ndarray) -> np.ndarray:
    import keras

    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    return model.predict(x, verbose=0)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_format_in_report_and_agrees(full_export, name: str) -> None:
    item = full_export.parity.get(name)
    assert item.file == REGISTRY[name].file
    assert item.n_samples == 64
    assert item.passed and item.top1_agreement >= item.threshold
    assert item.size_bytes > 0
    assert set(item.latency_ms) == {"1", "32"} and all(v > 0 for v in item.latency_ms.values())
    assert item.accuracy is not None and item.accuracy >= 0.9
    limit = {"float32": 1e-4, "float16": 5e-3, "dynamic": 5e-2, "int8": 5e-2}[item.precision]
    assert item.max_abs_diff <= limit


@pytest.mark.parametrize("name", list(REGISTRY))
def test_runner_predicts_like_keras(version_dir: Path, x, keras_probs, name: str) -> None:
    probs = REGISTRY[name].runner(version_dir).predict(x)
    assert probs.shape == (16, len(LABELS)) and probs.dtype == np.float32
    np.testing.assert_array_equal(probs.argmax(1), keras_probs.argmax(1))


def test_thresholds_recorded(full_export) -> None:
    thresholds = {f.format: f.threshold for f in full_export.parity.formats}
    assert thresholds["savedmodel"] == thresholds["tflite"] == thresholds["onnx"] == 0.999
    assert thresholds["tflite_float16"] == 0.995
    assert thresholds["tflite_dynamic"] == thresholds["tflite_int8"] == 0.97
    assert_parity(full_export.parity)


def test_onnx_io_and_metadata(version_dir: Path, x: np.ndarray, keras_probs) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(
        str(version_dir / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    (image,) = session.get_inputs()
    assert (
        image.name == "image" and image.type == "tensor(float)" and image.shape[1:] == [32, 32, 3]
    )
    outputs = {o.name: o.type for o in session.get_outputs()}
    assert outputs == {
        "probabilities": "tensor(float)",
        "top_k_scores": "tensor(float)",
        "top_k_classes": "tensor(string)",
        "top_k_ids": "tensor(int64)",
    }
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["labels"]) == LABELS
    assert meta["image_size"] == "32" and meta["input_name"] == "image"
    probs, classes = session.run(["probabilities", "top_k_classes"], {"image": x})
    np.testing.assert_allclose(probs, keras_probs, atol=1e-5)
    assert [row[0] for row in classes] == [LABELS[i] for i in keras_probs.argmax(1)]


@pytest.mark.parametrize(
    ("file", "in_dtype", "out_dtype"),
    [
        ("model.tflite", np.float32, np.float32),
        ("model_float16.tflite", np.float32, np.float32),
        ("model_dynamic.tflite", np.float32, np.float32),
        ("model_int8.tflite", np.uint8, np.uint8),
    ],
)
def test_tflite_io_in_litert(version_dir: Path, x, keras_probs, file, in_dtype, out_dtype) -> None:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(version_dir / file))
    assert interpreter.get_signature_list() == {
        "serving_default": {"inputs": ["image"], "outputs": ["probabilities"]}
    }
    runner = interpreter.get_signature_runner("serving_default")
    detail = runner.get_input_details()["image"]
    assert detail["dtype"] == in_dtype
    assert list(detail["shape_signature"]) == [-1, 32, 32, 3]
    feed = x.astype(in_dtype)
    if in_dtype == np.uint8:  # documented: scale 1, zero point 0 -> raw pixels
        assert detail["quantization"] == (1.0, 0)
    out = runner(image=feed)
    probs = out["probabilities"]
    assert probs.dtype == out_dtype
    if out_dtype == np.uint8:
        scale, zero = runner.get_output_details()["probabilities"]["quantization"]
        probs = (probs.astype(np.float32) - zero) * scale
    np.testing.assert_array_equal(probs.argmax(1), keras_probs.argmax(1))
    assert set(out) == {"probabilities"}  # top-k is the consumer's job (docs/exporter.md)


def test_report_contract_block(version_dir: Path, full_export) -> None:
    report = json.loads((version_dir / "export_report.json").read_text())
    assert report == full_export.report
    contract = report["contract"]
    assert contract["image_size"] == 32 and contract["num_classes"] == 4
    assert contract["top_k"] == 4 and contract["input_name"] == "image"
    assert contract["labels_file"] == "labels.txt"
    assert contract["onnx"] == {"file": "model.onnx", "outputs": sorted(PREDICT_OUTPUTS)}
    assert contract["tflite"] == {"file": "model.tflite", "outputs": ["probabilities"]}
    assert report["parity"]["passed"] is True
    assert {f["format"] for f in report["parity"]["formats"]} == set(REGISTRY)
    int8 = report["formats"]["tflite_int8"]["io"]["inputs"]["image"]
    assert int8["dtype"] == "uint8" and int8["quantization"] == {"scale": 1.0, "zero_point": 0}
    assert any("uint8" in note for note in report["formats"]["tflite_int8"]["differences"])
    notes = report["formats"]["tflite"]["differences"]
    assert "missing outputs: top_k_scores, top_k_classes, top_k_ids" in notes
    assert report["formats"]["tflite"]["io"]["tflite_metadata"]["packed_files"] == ["labels.txt"]
    assert report["timings_s"]["total"] > 0
