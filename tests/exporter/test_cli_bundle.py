"""CLI behaviour (one-line errors, exit codes) and the mobile bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from exporter.bundle import make_bundle
from exporter.cli import app
from exporter.errors import ExportError
from tests.exporter.run_factory import LABELS

cli = CliRunner()


def _error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_help_is_fast_and_lists_commands() -> None:
    result = cli.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("export", "verify", "inspect", "bundle"):
        assert command in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--formats", "onnx,pt"], "unknown format 'pt'; accepted: savedmodel, tflite, onnx"),
        (["--quantize", "int4"], "unknown quantization 'int4'"),
        (["--thresholds", "int8=2"], "must be a fraction in 0..1"),
        (["--top-k", "9"], "--top-k must be between 1 and 4"),
    ],
)
def test_export_bad_options(run_dir: Path, tmp_path: Path, args, message) -> None:
    base = ["export", str(run_dir), "--model-base-path", str(tmp_path), "--name", "m"]
    result = cli.invoke(app, base + args)
    assert result.exit_code == 1
    assert message in _error_line(result)
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


def test_export_missing_run_dir(tmp_path: Path) -> None:
    result = cli.invoke(app, ["export", str(tmp_path), "--name", "m"])
    assert result.exit_code == 1
    assert _error_line(result) == f"error: {tmp_path} is not a run directory: model.json is missing"


def test_export_via_cli(run_dir: Path, tmp_path: Path) -> None:
    args = ["export", str(run_dir), "--model-base-path", str(tmp_path), "--name", "m"]
    result = cli.invoke(app, args + ["--formats", "savedmodel", "--limit", "16", "--version", "3"])
    assert result.exit_code == 0, result.output
    assert "savedmodel" in result.output and "published" in result.output
    assert (tmp_path / "m" / "3" / "saved_model.pb").is_file()


def test_inspect_and_verify(version_dir: Path) -> None:
    result = cli.invoke(app, ["inspect", str(version_dir)])
    assert result.exit_code == 0
    assert "classify (tensorflow/serving/classify)" in result.output
    assert "scale=1 zp=0" in result.output
    info = json.loads(cli.invoke(app, ["inspect", str(version_dir), "--json"]).output)
    assert info["labels"] == LABELS and info["contract"]["image_size"] == 32
    assert info["formats"]["onnx"]["inputs"]["image"]["shape"] == [-1, 32, 32, 3]
    result = cli.invoke(app, ["verify", str(version_dir), "--limit", "16", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["reference"] == "keras" and report["n_samples"] == 16 and report["passed"]
    assert len(report["formats"]) == 6


def test_verify_without_images(tmp_path: Path) -> None:
    result = cli.invoke(app, ["verify", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "does not exist" in _error_line(result)


def test_bundle_contents(version_dir: Path, tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    out = make_bundle(version_dir, tmp_path / "bundle")
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "labels.txt",
        "metadata.json",
        "model.tflite",
    ]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["variant"] == "int8"  # default: smallest variant present
    assert meta["input"]["dtype"] == "uint8" and meta["input"]["image_size"] == 32
    assert meta["input"]["quantization"] == {"scale": 1.0, "zero_point": 0}
    assert meta["input"]["pixel_range"] == [0, 255] and meta["input"]["layout"] == "NHWC"
    assert meta["outputs"]["probabilities"]["quantization"]["scale"] == pytest.approx(1 / 256)
    assert meta["parity"]["format"] == "tflite_int8" and meta["parity"]["passed"]
    assert (out / "labels.txt").read_text().split() == LABELS
    readme = (out / "README.md").read_text()
    assert "uint8" in readme
    assert "ImageClassifier.createFromOptions(context, options)" in readme  # Android
    assert "import MediaPipeTasksVision" in readme and "\\(best.score)" in readme  # iOS
    assert meta["tflite_metadata"]["packed_files"] == ["labels.txt"]
    assert (out / "model.tflite").read_bytes() == (version_dir / "model_int8.tflite").read_bytes()
    interpreter = Interpreter(model_path=str(out / "model.tflite"))
    runner = interpreter.get_signature_runner("serving_default")
    probs = runner(image=np.zeros((1, 32, 32, 3), np.uint8))["probabilities"]
    assert probs.shape == (1, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # no temp dir left


def test_bundle_variant_and_refusals(version_dir: Path, tmp_path: Path) -> None:
    out = make_bundle(version_dir, tmp_path / "b", variant="float32")
    assert json.loads((out / "metadata.json").read_text())["input"]["dtype"] == "float32"
    with pytest.raises(ExportError, match="already exists; pass --force"):
        make_bundle(version_dir, out)
    make_bundle(version_dir, out, variant="float16", force=True)
    assert json.loads((out / "metadata.json").read_text())["variant"] == "float16"
    result = cli.invoke(
        app, ["bundle", str(version_dir), "--out", str(tmp_path / "c"), "--variant", "int4"]
    )
    assert result.exit_code == 1
    assert "variant 'int4' not in" in _error_line(result)


def test_verify_failure_exits_1_naming_format(version_dir: Path, monkeypatch) -> None:
    import dataclasses

    from exporter import formats as formats_module

    class Shuffled:
        def __init__(self, inner) -> None:
            self.inner = inner

        def predict(self, x: np.ndarray) -> np.ndarray:
            return np.roll(self.inner.predict(x), 1, axis=1)

        def describe(self) -> dict:
            return self.inner.describe()

    fmt = formats_module.REGISTRY["onnx"]
    broken = dataclasses.replace(fmt, runner=lambda path: Shuffled(fmt.runner(path)))
    monkeypatch.setitem(formats_module.REGISTRY, "onnx", broken)
    result = cli.invoke(app, ["verify", str(version_dir), "--limit", "16"])
    assert result.exit_code == 1
    assert "FAIL" in result.stdout, result.stderr  # the table is still printed
    line = _error_line(result)
    assert line.startswith("error: onnx: top-1 agreement") and "< required 99.90%" in line


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".hidden", "a\\b", ""])
def test_export_refuses_path_like_names(run_dir: Path, tmp_path: Path, name: str) -> None:
    base = tmp_path / "models"
    args = ["export", str(run_dir), "--model-base-path", str(base), "--name", name]
    result = cli.invoke(app, args + ["--formats", "savedmodel"])
    assert result.exit_code == 1
    assert "bad model name" in _error_line(result)
    assert not any(tmp_path.rglob("saved_model.pb"))
