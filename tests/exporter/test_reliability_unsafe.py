"""Untrusted models: a run directory whose ``model.keras`` holds a ``keras.layers.Lambda``
(Python code that Keras runs on load) is refused by ``exporter export`` (one line, exit 1,
naming ``--trust-model``) and exported with ``--trust-model``; ``trainer evaluate`` and
``trainer fit --init-from`` refuse it too. Every command runs as a subprocess, as a user
would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.exporter.run_factory import LABELS, write_run_dir

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
SIZE = 32


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=timeout)


def _error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The ``error: ...`` lines of stderr (TensorFlow's C++ start-up noise aside)."""
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def _assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = _error_lines(result)
    assert len(lines) == 1, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _lambda_model():
    """Same I/O as the run factory's model (``image`` 0..255 -> softmax over the labels), with
    the scaling done by a Python lambda."""
    import keras

    inputs = keras.Input((SIZE, SIZE, 3), dtype="float32", name="image")
    x = keras.layers.Lambda(lambda t: t / 127.5 - 1.0, name="untrusted_scale")(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(len(LABELS), activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="untrusted")


@pytest.fixture(scope="module")
def lambda_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete run directory (contracts §1) whose model.keras contains a Lambda layer."""
    run = write_run_dir(tmp_path_factory.mktemp("runs") / "untrusted", image_size=SIZE,
                        n_val=32, n_calib=32, steps=2)
    model = _lambda_model()
    for name in ("model.keras", "best.keras"):
        (run / name).unlink()
        model.save(run / name)
    return run


def test_export_refuses_lambda_model(lambda_run: Path, tmp_path: Path) -> None:
    base = tmp_path / "models"
    result = _cli("exporter.cli", "export", str(lambda_run), "--model-base-path", str(base),
                  "--name", "n", "--version", "1", "--formats", "savedmodel")
    line = _assert_one_line_error(result, "model.keras", "--trust-model", "Lambda")
    assert "safe_mode=False" in line
    # nothing published, no staging left behind
    assert not (base / "n").exists() or list((base / "n").iterdir()) == []


def test_export_with_trust_model_loads_unsafely(lambda_run: Path, tmp_path: Path) -> None:
    base = tmp_path / "models"
    result = _cli("exporter.cli", "export", str(lambda_run), "--model-base-path", str(base),
                  "--name", "n", "--version", "1", "--formats", "savedmodel",
                  "--trust-model")
    assert result.returncode == 0, result.stderr[-2000:]
    version = base / "n" / "1"
    assert (version / "saved_model.pb").is_file()
    assert (version / "export_report.json").is_file()
    assert sorted(p.name for p in (base / "n").iterdir()) == ["1"]


def test_help_documents_trust_model() -> None:
    result = _cli("exporter.cli", "export", "--help", timeout=120)
    assert result.returncode == 0
    assert "--trust-model" in result.stdout


def test_trainer_evaluate_refuses_lambda_model(lambda_run: Path, tmp_path: Path) -> None:
    from tests.trainer.data_factory import write_npz

    data = tmp_path / "eval.npz"
    write_npz(data, n_per_class=2, classes=len(LABELS), size=SIZE)
    result = _cli("trainer.cli", "evaluate", str(lambda_run), "--data", str(data),
                  "--out", str(tmp_path / "eval"))
    _assert_one_line_error(result, "model.keras", "Lambda")
    assert not (tmp_path / "eval" / "eval_metrics.json").exists()


def test_trainer_init_from_refuses_lambda_model(lambda_run: Path, tmp_path: Path) -> None:
    from tests.trainer.data_factory import write_npz

    data = tmp_path / "train.npz"
    write_npz(data, n_per_class=4, classes=len(LABELS), size=SIZE)
    out = tmp_path / "run"
    result = _cli("trainer.cli", "fit", "--data", str(data), "--out", str(out),
                  "--backbone", "small_cnn", "--weights", "none", "--epochs", "1",
                  "--init-from", str(lambda_run), "--quiet")
    _assert_one_line_error(result, "--init-from", "Lambda")
    assert not out.exists()
