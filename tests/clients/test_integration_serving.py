"""Clients against the real ``serving serve`` (subprocess, free ports) and exported models.

Two versions of a tiny exported classifier (48 px input, fed 32 px images so resizing
matters): v1 (label ``stable``) and v2 (label ``canary``), served with ``all`` versions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clients.errors import BadRequest, ModelNotFound
from clients.evaluate import evaluate
from clients.grpc_client import GrpcClient
from clients.images import ImageSet
from clients.prepare import ImageItem
from clients.rest import RestClient
from tests.serve_process import serving_process

pytestmark = pytest.mark.slow

MODES = ("client-resize", "server-resize", "encoded")


def _export(run: Path, base: Path, version: int, seed: int, steps: int) -> None:
    from exporter.config import ExportConfig, VerifySettings
    from exporter.export import export_run
    from tests.exporter.run_factory import write_run_dir

    write_run_dir(run, image_size=48, sample_size=32, steps=steps, seed=seed)
    export_run(ExportConfig(run_dir=run, model_base_path=base, name="tiny", version=version,
                            families=("savedmodel",), quantize=(),
                            verify=VerifySettings(latency_repeats=2)))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(rest_url, grpc_target, run_dir_v1, model_base_path) of a running server."""
    root = tmp_path_factory.mktemp("served")
    base = root / "models"
    _export(root / "run1", base, 1, seed=0, steps=30)
    _export(root / "run2", base, 2, seed=3, steps=4)
    config = root / "models.config"
    config.write_text(
        'model_config_list { config { name: "tiny" base_path: "%s" model_platform: '
        '"tensorflow" model_version_policy { all {} } version_labels { key: "stable" '
        'value: 1 } version_labels { key: "canary" value: 2 } } }' % (base / "tiny"))
    flags = [f"--model_config_file={config}", "--allow_version_labels_for_unavailable_models=true"]
    with serving_process(root, flags) as (rest_url, grpc_target):
        yield rest_url, grpc_target, root / "run1", base / "tiny"


@pytest.fixture(scope="module")
def val(served):
    samples = np.load(served[2] / "samples.npz")
    return samples["x_val"][:48], samples["y_val"][:48]


def test_modes_and_protocols_agree(served, val) -> None:
    rest_url, target, *_ = served
    x, _ = val
    answers = {}
    for proto, client in (("rest", RestClient(rest_url, "tiny", version=1)),
                          ("grpc", GrpcClient(target, "tiny", version=1))):
        for mode in MODES:
            preds = client.predict(list(x), top_k=2, mode=mode, batch_size=16)
            answers[proto, mode] = ([p.class_ids for p in preds],
                                    np.array([p.scores for p in preds]))
    ref_ids, ref_scores = answers["rest", "client-resize"]
    for key, (ids, scores) in answers.items():
        assert ids == ref_ids, key
        assert np.allclose(scores, ref_scores, atol=1e-4), key


def test_client_resize_matches_keras_in_process(served, val) -> None:
    import keras
    import tensorflow as tf

    rest_url, _, run1, _ = served
    x, _ = val
    model = keras.saving.load_model(run1 / "model.keras", safe_mode=True)
    ref = model.predict(tf.image.resize(tf.cast(x, tf.float32), (48, 48)).numpy(), verbose=0)
    preds = RestClient(rest_url, "tiny", label="stable").predict(
        list(x), top_k=1, return_probabilities=True)
    got = np.stack([p.probabilities for p in preds])
    assert [p.class_ids[0] for p in preds] == list(ref.argmax(axis=1))
    assert np.abs(got - ref).max() < 1e-4


def test_evaluate_equals_offline_accuracy(served, val) -> None:
    import keras
    import tensorflow as tf

    rest_url, target, run1, _ = served
    x, y = val
    model = keras.saving.load_model(run1 / "model.keras", safe_mode=True)
    offline = float((model.predict(tf.image.resize(tf.cast(x, tf.float32), (48, 48)).numpy(),
                                   verbose=0).argmax(axis=1) == y).mean())
    images = ImageSet()
    for i, im in enumerate(x):
        images.add(ImageItem(array=im), f"val[{i}]", int(y[i]))
    for client in (RestClient(rest_url, "tiny", version=1), GrpcClient(target, "tiny",
                                                                       version=1)):
        result = evaluate(client, images, "client-resize", batch_size=16)
        assert result.count == len(y)
        assert abs(result.accuracy - offline) <= 0.001
        assert result.confusion.sum() == len(y)


def test_version_and_label_routing(served, val) -> None:
    rest_url, target, *_ = served
    x, _ = val
    probs = {}
    for name, client in (("v1", RestClient(rest_url, "tiny", version=1)),
                         ("v2", RestClient(rest_url, "tiny", version=2)),
                         ("stable", GrpcClient(target, "tiny", label="stable")),
                         ("canary", RestClient(rest_url, "tiny", label="canary"))):
        preds = client.predict(list(x[:8]), return_probabilities=True)
        probs[name] = np.stack([p.probabilities for p in preds])
    assert not np.allclose(probs["v1"], probs["v2"], atol=1e-3)
    assert np.allclose(probs["stable"], probs["v1"], atol=1e-5)
    assert np.allclose(probs["canary"], probs["v2"], atol=1e-5)
    assert RestClient(rest_url, "tiny").metadata().version == 2


def test_errors_carry_server_messages(served, val) -> None:
    rest_url, target, *_ = served
    x, _ = val
    for client in (RestClient(rest_url, "nope"), GrpcClient(target, "nope")):
        with pytest.raises(ModelNotFound, match="nope"):
            client.predict(list(x[:1]))
    for client in (RestClient(rest_url, "tiny", label="beta"),
                   GrpcClient(target, "tiny", label="beta")):
        with pytest.raises(BadRequest, match="beta"):
            client.predict(list(x[:1]))
    with pytest.raises(ModelNotFound, match="9"):
        RestClient(rest_url, "tiny", version=9).predict(list(x[:1]))


def test_bench_short_sweep(served, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from clients.cli import app

    rest_url, target, _, base = served
    out = tmp_path / "bench.json"
    res = CliRunner().invoke(app, [
        "bench", "--server", rest_url, "--grpc", target, "--model", "tiny", "--batch-size",
        "4", "--concurrency", "1,2", "--warmup", "1.0", "--duration", "3", "--window", "1.0",
        "--baseline", str(base), "--json", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    baseline = doc["meta"]["baseline"]
    assert baseline["signature"] == "serving_default" and baseline["batch_size"] == 4
    assert baseline["model_dir"] == str(base) and baseline["calls"] >= 5
    assert set(baseline["server_added_p50_ms"]) == {"rest", "grpc"}
    assert "in-proc" in res.stdout
    points = doc["points"]
    assert len(points) == 4
    for p in points:
        assert p["requests_ok"] > 0 and p["errors"] == {}, points
        assert p["checked"] > 0 and p["mismatched"] == 0


@pytest.mark.parametrize(("label", "run_name"), [("stable", "run1"), ("canary", "run2")])
def test_evaluate_equals_trainer_evaluate(served, val, tmp_path: Path, label: str,
                                          run_name: str) -> None:
    """The served accuracy equals ``trainer evaluate`` of the same model on the same file
    (for both versions; v2 is trained for only 4 steps)."""
    from clients.images import load_images
    from trainer.evaluate import evaluate as trainer_evaluate

    rest_url, target, run1, _ = served
    run = run1.parent / run_name
    x, y = val
    data = tmp_path / "val.npz"
    np.savez(data, x=x, y=y)
    (tmp_path / "labels.txt").write_text((run / "labels.txt").read_text())
    offline = trainer_evaluate(run, str(data), out=tmp_path / "trainer_eval")
    images = load_images([data])
    for client in (RestClient(rest_url, "tiny", label=label),
                   GrpcClient(target, "tiny", label=label)):
        for mode in MODES:
            served_acc = evaluate(client, images, mode, batch_size=16)
            assert abs(served_acc.accuracy - offline.top1) <= 0.001, (mode, served_acc.accuracy,
                                                                      offline.top1)
            assert served_acc.class_names == offline.labels
