"""The published SavedModel: layout, four signatures, in-graph preprocessing, warmup file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from exporter.inspection import describe_savedmodel
from exporter.signatures import CLASSIFY_METHOD, PREDICT_OUTPUTS, SIGNATURE_NAMES
from exporter.warmup import WARMUP_RELPATH, read_warmup
from tests.exporter.run_factory import LABELS


@pytest.fixture(scope="module")
def loaded(version_dir: Path):
    import tensorflow as tf

    return tf.saved_model.load(str(version_dir))


@pytest.fixture(scope="module")
def samples(run_dir: Path) -> np.ndarray:
    return np.load(run_dir / "samples.npz")["x_val"][:12]


def test_version_layout(version_dir: Path) -> None:
    names = {p.name for p in version_dir.iterdir()}
    expected = {
        "saved_model.pb",
        "variables",
        "assets",
        "assets.extra",
        "labels.txt",
        "export_report.json",
        "model.onnx",
        "model.tflite",
        "model_float16.tflite",
        "model_dynamic.tflite",
        "model_int8.tflite",
    }
    assert expected <= names
    assert (version_dir / "assets" / "labels.txt").read_text().split() == LABELS
    assert (version_dir / "labels.txt").read_text().split() == LABELS
    assert version_dir.name == "1"
    assert [p.name for p in version_dir.parent.iterdir()] == ["1"]  # no staging leftovers


def test_signature_names_dtypes_shapes(version_dir: Path) -> None:
    sigs = describe_savedmodel(version_dir)["signatures"]
    assert set(sigs) == set(SIGNATURE_NAMES)
    default = sigs["serving_default"]
    assert default["inputs"] == {"image": {"dtype": "float", "shape": [-1, 32, 32, 3]}}
    assert sigs["serve_raw"]["inputs"] == {"image": {"dtype": "uint8", "shape": [-1, -1, -1, 3]}}
    assert sigs["serve_bytes"]["inputs"] == {"image_bytes": {"dtype": "string", "shape": [-1]}}
    assert sigs["classify"]["inputs"] == {"inputs": {"dtype": "string", "shape": [-1]}}
    expected_out = {
        "probabilities": {"dtype": "float", "shape": [-1, 4]},
        "top_k_scores": {"dtype": "float", "shape": [-1, 4]},
        "top_k_classes": {"dtype": "string", "shape": [-1, 4]},
        "top_k_ids": {"dtype": "int64", "shape": [-1, 4]},
    }
    for name in ("serving_default", "serve_raw", "serve_bytes"):
        assert sigs[name]["outputs"] == expected_out
        assert sigs[name]["method_name"] == "tensorflow/serving/predict"
    assert set(sigs["classify"]["outputs"]) == {"classes", "scores"}
    assert sigs["classify"]["method_name"] == CLASSIFY_METHOD


def test_serving_default_outputs_consistent(loaded, samples: np.ndarray) -> None:
    out = loaded.signatures["serving_default"](image=samples.astype(np.float32))
    out = {k: v.numpy() for k, v in out.items()}
    assert set(out) == set(PREDICT_OUTPUTS)
    probs = out["probabilities"]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(probs, 0.25, atol=0.05)  # a trained, non-uniform model
    np.testing.assert_array_equal(out["top_k_ids"][:, 0], probs.argmax(axis=1))
    assert out["top_k_ids"].dtype == np.int64
    names = [[c.decode() for c in row] for row in out["top_k_classes"]]
    assert names == [[LABELS[i] for i in row] for row in out["top_k_ids"]]
    np.testing.assert_allclose(out["top_k_scores"], np.sort(probs, axis=1)[:, ::-1], rtol=1e-6)


def _encode(images: np.ndarray, fmt: str) -> list[bytes]:
    from PIL import Image

    blobs = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(
            buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {})
        )
        blobs.append(buffer.getvalue())
    return blobs


def test_serve_raw_matches_serving_default(loaded, samples: np.ndarray) -> None:
    default = loaded.signatures["serving_default"](image=samples.astype(np.float32))
    raw = loaded.signatures["serve_raw"](image=samples)
    np.testing.assert_allclose(raw["probabilities"], default["probabilities"], atol=1e-6)
    np.testing.assert_array_equal(raw["top_k_ids"][:, 0], default["top_k_ids"][:, 0])


def test_serve_raw_resizes_any_size(loaded, samples: np.ndarray) -> None:
    import tensorflow as tf

    big = tf.image.resize(samples, (48, 40), method="nearest").numpy().astype(np.uint8)
    out = loaded.signatures["serve_raw"](image=big)
    resized = tf.image.resize(big.astype(np.float32), (32, 32), antialias=False)
    expected = loaded.signatures["serving_default"](image=resized)
    np.testing.assert_allclose(out["probabilities"], expected["probabilities"], atol=1e-6)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_serve_bytes_top1_matches(loaded, samples: np.ndarray, fmt: str) -> None:
    blobs = _encode(samples, fmt)
    out = loaded.signatures["serve_bytes"](image_bytes=blobs)
    default = loaded.signatures["serving_default"](image=samples.astype(np.float32))
    np.testing.assert_array_equal(out["top_k_ids"][:, 0], default["top_k_ids"][:, 0])
    if fmt == "PNG":  # lossless: identical pixels, identical probabilities
        np.testing.assert_allclose(out["probabilities"], default["probabilities"], atol=1e-6)


def test_classify_on_tf_examples(loaded, samples: np.ndarray) -> None:
    import tensorflow as tf

    examples = []
    for blob in _encode(samples, "PNG"):
        feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[blob]))
        example = tf.train.Example(features=tf.train.Features(feature={"image/encoded": feature}))
        examples.append(example.SerializeToString())
    out = loaded.signatures["classify"](inputs=examples)
    default = loaded.signatures["serving_default"](image=samples.astype(np.float32))
    np.testing.assert_array_equal(out["classes"].numpy(), default["top_k_classes"].numpy())
    np.testing.assert_allclose(out["scores"], default["top_k_scores"], atol=1e-6)


def test_warmup_file_holds_predict_requests(version_dir: Path) -> None:
    import tensorflow as tf

    logs = read_warmup(version_dir / WARMUP_RELPATH)
    assert 1 <= len(logs) <= 1000
    for log in logs:
        assert log.WhichOneof("log_type") == "predict_log"
        request = log.predict_log.request
        assert request.model_spec.signature_name == "serving_default"
        image = tf.make_ndarray(request.inputs["image"])
        assert image.dtype == np.float32 and image.shape[1:] == (32, 32, 3)
    assert max(tf.make_ndarray(x.predict_log.request.inputs["image"]).shape[0] for x in logs) > 1


def test_warmup_requests_replay_like_tf_serving(version_dir: Path, loaded) -> None:
    """TF Serving feeds each request's inputs to the named signature; do the same."""
    import tensorflow as tf

    for log in read_warmup(version_dir / WARMUP_RELPATH):
        request = log.predict_log.request
        signature = loaded.signatures[request.model_spec.signature_name]
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        out = signature(**inputs)
        assert out["probabilities"].shape == (inputs["image"].shape[0], len(LABELS))


def test_fingerprint_matches_patched_graph(version_dir: Path) -> None:
    import tensorflow as tf
    from tensorflow.core.protobuf import fingerprint_pb2
    from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting

    fresh = fingerprint_pb2.FingerprintDef()
    fresh.ParseFromString(fingerprinting.CreateFingerprintDef(str(version_dir)))
    stored = tf.saved_model.experimental.read_fingerprint(str(version_dir))
    assert stored.saved_model_checksum == fresh.saved_model_checksum


def test_no_training_only_ops(version_dir: Path) -> None:
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((version_dir / "saved_model.pb").read_bytes())
    ops = {
        node.op for fn in proto.meta_graphs[0].graph_def.library.function for node in fn.node_def
    }
    forbidden = {
        "RandomUniform",
        "RandomStandardNormal",
        "StatelessRandomUniformV2",
        "StatelessRandomNormalV2",
        "StatelessRandomUniformFullIntV2",
    }
    assert not ops & forbidden, ops & forbidden
    report = json.loads((version_dir / "export_report.json").read_text())
    assert report["contract"]["savedmodel"]["signatures"] == list(SIGNATURE_NAMES)
