"""``clients`` CLI via CliRunner: predict, evaluate, bench outputs, one-line errors."""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from clients.cli import app
from tests.clients.fake_model import LABELS, FakeModel

runner = CliRunner()


@pytest.fixture
def npz(tmp_path: Path, images) -> Path:
    """RGB uint8 images with the fake model's own top-1 (v2) as labels, plus a wrong one."""
    from clients.prepare import ImageItem, Mode, make_groups

    x = np.stack([im for im in images if im.shape == (32, 32, 3) and im.dtype == np.uint8])
    group = make_groups([ImageItem(array=i) for i in x], Mode.CLIENT_RESIZE, (8, 8))[0]
    y = FakeModel().predict(2, "serving_default", {"image": group.tensor})["top_k_ids"][:, 0]
    y[0] = (y[0] + 1) % len(LABELS)  # one deliberately wrong label -> accuracy (n-1)/n
    path = tmp_path / "val.npz"
    np.savez(path, x=x, y=y)
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_predict_table_and_json(rest_server, tmp_path: Path, npz: Path) -> None:
    Image.new("RGB", (32, 32), (250, 10, 10)).save(tmp_path / "red.png")
    (tmp_path / "junk.png").write_bytes(b"junk")
    args = ["predict", str(tmp_path / "red.png"), str(tmp_path / "junk.png"), str(npz),
            "--server", rest_server.url, "--model", "toy", "--version", "1", "--top-k", "2"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0].split()[1] == "red"  # version 1 prefers red for a red image
    assert "(true: " in lines[1]
    assert "skipped" in res.stderr and "junk.png" in res.stderr
    res = runner.invoke(app, [*args, "--json", "--mode", "encoded"])
    doc = json.loads(res.stdout)
    assert doc["predictions"][0]["top_k"][0]["label"] == "red"
    assert len(doc["predictions"][0]["top_k"]) == 2


def test_predict_over_grpc(grpc_server, npz: Path) -> None:
    res = runner.invoke(app, ["predict", str(npz), "--grpc", grpc_server.target, "--model",
                              "toy", "--label", "stable", "--mode", "server-resize",
                              "--batch-size", "2", "--json"])
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["predictions"]) == 4


def test_evaluate_accuracy_and_outputs(rest_server, grpc_server, npz: Path,
                                       tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    res = runner.invoke(app, ["evaluate", "--data", str(npz), "--server", rest_server.url,
                              "--model", "toy", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "accuracy 75.0000% (3/4" in res.stdout
    doc = json.loads(out.read_text())
    assert doc["correct"] == 3 and np.array(doc["confusion"]).sum() == 4
    assert doc["class_names"] == LABELS
    png = tmp_path / "cm.png"
    res = runner.invoke(app, ["evaluate", "--data", str(npz), "--grpc", grpc_server.target,
                              "--model", "toy", "--mode", "encoded", "--out", str(png)])
    assert res.exit_code == 0, res.output
    assert "(3/4" in res.stdout
    assert Image.open(png).format == "PNG"


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "nope"], "NOT_FOUND: Servable not found for request: Latest(nope)"),
    (["--model", "toy", "--label", "beta"], "Unrecognized servable version label: beta"),
    (["--model", "toy", "--version", "1", "--label", "x"], "--version or --label, not both"),
])
def test_predict_errors_are_one_line(rest_server, npz: Path, args, message) -> None:
    res = runner.invoke(app, ["predict", str(npz), "--server", rest_server.url, *args])
    assert res.exit_code == 1
    assert res.stderr.strip().count("\n") == 0
    assert message in res.stderr and "Traceback" not in res.output


def test_server_down_and_no_images(tmp_path: Path, npz: Path) -> None:
    res = runner.invoke(app, ["predict", str(npz), "--server",
                              f"http://127.0.0.1:{_free_port()}", "--model", "toy"])
    assert res.exit_code == 1 and res.stderr.startswith("error: cannot connect")
    res = runner.invoke(app, ["predict", str(tmp_path / "none.png"), "--server",
                              "http://127.0.0.1:1", "--model", "toy"])
    assert res.exit_code == 1 and "no readable images" in res.stderr
    res = runner.invoke(app, ["predict", str(npz), "--model", "toy"])
    assert res.exit_code == 1 and "exactly one of --server" in res.stderr


def test_bench_bad_arguments(rest_server) -> None:
    res = runner.invoke(app, ["bench", "--server", rest_server.url, "--model", "toy",
                              "--concurrency", "1,x"])
    assert res.exit_code != 0 and "comma-separated" in res.output


def test_bench_outputs_for_rest_and_grpc(rest_server, grpc_server, tmp_path: Path) -> None:
    outs = {k: tmp_path / f"bench.{k}" for k in ("json", "csv", "png")}
    res = runner.invoke(app, [
        "bench", "--server", rest_server.url, "--grpc", grpc_server.target, "--model", "toy",
        "--protocol", "rest,grpc", "--batch-size", "2", "--concurrency", "1,2",
        "--rate", "20", "--warmup", "0.2", "--duration", "0.9", "--window", "0.3",
        "--json", str(outs["json"]), "--csv", str(outs["csv"]), "--png", str(outs["png"])])
    assert res.exit_code == 0, res.output
    doc = json.loads(outs["json"].read_text())
    points = doc["points"]
    assert [(p["protocol"], p["load"]) for p in points] == [
        ("rest", "closed"), ("rest", "closed"), ("rest", "open"),
        ("grpc", "closed"), ("grpc", "closed"), ("grpc", "open")]
    for p in points:
        assert p["requests_ok"] > 0 and p["throughput"] > 0 and p["errors"] == {}
        lat = p["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]
        assert p["checked"] > 0 and p["mismatched"] == 0
        assert p["request_bytes"] > 0 and p["response_bytes"] > 0
    assert doc["meta"]["batch_size"] == 2 and doc["meta"]["config"]["rates"] == [20.0]
    rows = list(csv.DictReader(outs["csv"].read_text().splitlines()))
    assert len(rows) == 6 and float(rows[0]["p50_ms"]) > 0
    assert Image.open(outs["png"]).format == "PNG"
    assert "p99.9" in res.stdout and "rest" in res.stdout and "grpc" in res.stdout
