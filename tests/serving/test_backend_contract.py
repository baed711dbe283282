"""ONNX, TFLite and SavedModel backends on one contract model: same metadata, same answers."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from serving.backends import create_backend
from serving.errors import FailedPrecondition, InvalidArgument, NotFound
from tests.serving.contract_models import (
    IMAGE_SIZE,
    LABELS,
    NUM_CLASSES,
    TOP_K,
    example_bytes,
    png_bytes,
    write_contract_version,
)

PLATFORMS = ("tensorflow", "onnx", "tflite")


@pytest.fixture(scope="module")
def version_dir(tmp_path_factory):
    return write_contract_version(tmp_path_factory.mktemp("contract"), 1)


@pytest.fixture(scope="module")
def backends(version_dir):
    loaded = {}
    for platform in PLATFORMS:
        loaded[platform] = create_backend(platform)
        loaded[platform].load(version_dir)
    return loaded


def _images(seed: int = 0):
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, (3, 20, 27, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    rgba = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    smooth = np.linspace(0, 255, 24 * 30 * 3).reshape(24, 30, 3).astype(np.uint8)
    encoded = [
        png_bytes(raw[0]),
        png_bytes(grey),
        png_bytes(rgba),
        png_bytes(smooth, "JPEG"),
        png_bytes(grey, "JPEG"),
        png_bytes(raw[2], "BMP"),
        png_bytes(raw[1], "GIF"),
    ]
    return raw, np.array(encoded, dtype=object)


def _requests():
    raw, encoded = _images()
    examples = np.array([example_bytes(e) for e in encoded], dtype=object)
    image = np.random.default_rng(3).uniform(0, 255, (2, IMAGE_SIZE, IMAGE_SIZE, 3))
    return {
        "serving_default": {"image": image.astype(np.float32)},
        "serve_raw": {"image": raw},
        "serve_bytes": {"image_bytes": encoded},
        "classify": {"inputs": examples},
    }


def _assert_same(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for alias, value in want.items():
        assert got[alias].dtype == value.dtype and got[alias].shape == value.shape, alias
        if value.dtype.kind == "f":
            np.testing.assert_allclose(got[alias], value, rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(got[alias], value)


def test_metadata_identical_across_backends(backends):
    maps = {p: b.signature_defs() for p, b in backends.items()}
    assert maps["onnx"] == maps["tensorflow"]
    assert maps["tflite"] == maps["tensorflow"]
    keys = set(maps["onnx"].signature_def)
    assert keys == {
        "serving_default",
        "serve_raw",
        "serve_bytes",
        "classify",
        "__saved_model_init_op",
    }


@pytest.mark.parametrize("signature", ["serving_default", "serve_raw", "serve_bytes", "classify"])
def test_all_signatures_agree(backends, signature):
    request = _requests()[signature]
    want = backends["tensorflow"].predict(signature, request)
    for platform in ("onnx", "tflite"):
        _assert_same(backends[platform].predict(signature, request), want)


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("signature", ["serving_default", "serve_raw", "serve_bytes", "classify"])
def test_read_only_inputs_are_accepted_and_untouched(backends, platform, signature):
    # The gRPC path hands backends read-only views of the request's bytes (no copy).
    request = _requests()[signature]
    frozen = {}
    for alias, arr in request.items():
        frozen[alias] = arr.copy()
        frozen[alias].flags.writeable = False
    want = backends[platform].predict(signature, request)
    _assert_same(backends[platform].predict(signature, frozen), want)
    for alias, arr in request.items():
        np.testing.assert_array_equal(frozen[alias], arr)


def test_outputs_are_consistent_top_k(backends):
    out = backends["onnx"].predict("serve_raw", _requests()["serve_raw"])
    assert out["probabilities"].shape == (3, NUM_CLASSES)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    assert out["top_k_ids"].shape == (3, TOP_K) and out["top_k_ids"].dtype == np.int64
    best = out["probabilities"].argmax(axis=1)
    np.testing.assert_array_equal(out["top_k_ids"][:, 0], best)
    assert [c.decode() for c in out["top_k_classes"][:, 0]] == [LABELS[i] for i in best]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_output_filter(backends, platform):
    image = np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 3), np.float32)
    wanted = ["top_k_ids", "probabilities"]
    out = backends[platform].predict("serving_default", {"image": image}, wanted)
    assert list(out) == ["top_k_ids", "probabilities"]
    assert out["probabilities"].shape == (1, NUM_CLASSES) and out["top_k_ids"].shape == (1, TOP_K)


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("batching", [False, True])
def test_empty_batch_through_the_core(backends, platform, batching):
    """An empty batch is answered by the core from the signature, on every backend and CPU
    (the SavedModel itself fails ``[0,k]`` MatMuls under oneDNN on some CPUs)."""
    import asyncio

    from serving.batching import BatchingOptions
    from serving.core import ServingCore
    from serving.errors import ServingError
    from serving.servables import ServedVersion

    class OneModel:
        def __init__(self, backend):
            self.served = ServedVersion("m", 1, platform, backend)

        def resolve(self, name, version=None, label=None):
            return self.served

    options = BatchingOptions(max_batch_size=4, batch_timeout_micros=1000) if batching else None
    core = ServingCore(OneModel(backends[platform]), batching=options, workers=1)
    served = core.resolve("m")
    empty = np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, 3), np.float32)

    async def calls():
        wanted = ["top_k_classes", "probabilities"]
        out = await core.predict(served, "serving_default", {"image": empty}, wanted)
        raw = await core.predict(served, "serve_raw", {"image": np.zeros((0, 7, 9, 3), np.uint8)})
        no_bytes = {"image_bytes": np.array([], dtype=object)}
        encoded = await core.predict(served, "serve_bytes", no_bytes)
        try:
            await core.predict(served, "serving_default", {"image": empty.astype(np.float64)})
        except ServingError as err:
            return out, raw, encoded, err
        raise AssertionError("a wrong dtype must still be refused for an empty batch")

    out, raw, encoded, err = asyncio.run(calls())
    core.close()
    assert list(out) == ["top_k_classes", "probabilities"]
    assert out["probabilities"].shape == (0, NUM_CLASSES)
    assert out["probabilities"].dtype == np.float32
    assert out["top_k_classes"].shape == (0, TOP_K) and out["top_k_classes"].dtype == object
    for result in (raw, encoded):
        assert result["probabilities"].shape == (0, NUM_CLASSES)
        assert result["top_k_ids"].shape == (0, TOP_K) and result["top_k_ids"].dtype == np.int64
    assert err.message == "Expects arg[0] to be float but double is provided"


@pytest.mark.parametrize("platform", ["onnx", "tflite"])
def test_client_errors_are_invalid_argument(backends, platform):
    backend = backends[platform]
    with pytest.raises(InvalidArgument, match="Unknown image file format"):
        backend.predict("serve_bytes", {"image_bytes": np.array([b"not an image"], dtype=object)})
    with pytest.raises(InvalidArgument, match=r"input image has shape \[1,8,8,3\]"):
        backend.predict("serving_default", {"image": np.zeros((1, 8, 8, 3), np.float32)})
    with pytest.raises(InvalidArgument, match="Expects arg\\[0\\] to be uint8 but float"):
        backend.predict("serve_raw", {"image": np.zeros((1, 8, 8, 3), np.float32)})
    with pytest.raises(InvalidArgument, match="image/encoded"):
        backend.predict("classify", {"inputs": np.array([b""], dtype=object)})
    with pytest.raises(FailedPrecondition, match='signature key "predict" not found'):
        backend.predict("predict", {"image": np.zeros((1, 8, 8, 3), np.float32)})


def test_onnx_intra_op_threads_do_not_spin(backends):
    # Busy-waiting intra-op threads took the CPU the event loop needs (measured: REST
    # client-resize at c=8 went from ~58 to ~125 req/s with spinning off, onnx backend).
    options = backends["onnx"]._session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_tflite_interpreter_per_thread(backends):
    backend = backends["tflite"]
    request = _requests()["serving_default"]["image"]
    want = backends["tensorflow"].predict("serving_default", {"image": request})["probabilities"]
    errors: list[BaseException] = []

    def worker(batch: int) -> None:
        try:
            for _ in range(20):
                got = backend.predict("serving_default", {"image": request[:batch]})
                np.testing.assert_allclose(got["probabilities"], want[:batch], rtol=1e-5, atol=1e-6)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(1 + i % 2,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


@pytest.mark.parametrize(
    ("platform", "filename"), [("onnx", "model.onnx"), ("tflite", "model.tflite")]
)
def test_plain_model_without_contract(version_dir, tmp_path, platform, filename):
    shutil.copy(version_dir / filename, tmp_path / filename)
    backend = create_backend(platform)
    backend.load(tmp_path)
    defs = backend.signature_defs()
    assert set(defs.signature_def) == {"serving_default"}
    signature = defs.signature_def["serving_default"]
    assert list(signature.inputs) == ["image"] and list(signature.outputs) == ["probabilities"]
    image = _requests()["serving_default"]["image"]
    got = backend.predict("serving_default", {"image": image})
    assert got["probabilities"].shape == (2, NUM_CLASSES)


@pytest.mark.parametrize(
    ("platform", "filename"), [("onnx", "model.onnx"), ("tflite", "model.tflite")]
)
def test_corrupt_or_missing_model_file(version_dir, tmp_path, platform, filename):
    with pytest.raises(NotFound, match=f"{filename} not found in version directory"):
        create_backend(platform).load(tmp_path)
    data = (version_dir / filename).read_bytes()
    (tmp_path / filename).write_bytes(data[: len(data) // 3])
    with pytest.raises(FailedPrecondition, match=f"cannot load {filename}"):
        create_backend(platform).load(tmp_path)


def test_top_k_heads_match_tf_top_k_on_ties():
    import tensorflow as tf

    from serving.backends.contract import Contract, top_k_heads

    contract = Contract(4, 5, 3, "image", ("a", "b", "c", "d", "e"), "model.onnx", ())
    probs = np.array([[0.1, 0.3, 0.3, 0.2, 0.1], [0.2, 0.2, 0.2, 0.2, 0.2]], np.float32)
    heads = top_k_heads(probs, contract)
    want = tf.math.top_k(probs, k=3)
    np.testing.assert_array_equal(heads["top_k_ids"], want.indices.numpy())
    np.testing.assert_array_equal(heads["top_k_scores"], want.values.numpy())
    assert heads["top_k_classes"].tolist() == [[b"b", b"c", b"d"], [b"a", b"b", b"c"]]
