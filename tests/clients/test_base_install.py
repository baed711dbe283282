"""The base install (``pip install tfserve-kit``, no extra) is the thin clients: a fresh venv
gets no TensorFlow & co., yet ``clients predict``/``evaluate`` work over REST and gRPC against
a server started from the full environment, and a stage command names its missing extra."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serve_process import serving_process

REPO = Path(__file__).resolve().parents[2]
ABSENT = ("tensorflow", "tensorflow_serving", "onnxruntime", "tf2onnx", "keras", "matplotlib")


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory) -> Path:
    """A venv holding only the base install of this checkout: its wheel (built with the full
    environment's setuptools, so no isolated build env is fetched), then the base
    dependencies through pip's configured cache/find-links at the pins of constraints.txt."""
    root = tmp_path_factory.mktemp("base")
    venv, source = root / "venv", root / "source"
    # A copy of the sources: an in-tree build would leave build/ in the checkout (and reuse
    # stale files from an earlier one).
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "runs",
        "models", "demo", "*.so"))
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    built = _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                  "--no-build-isolation", "-w", str(root / "dist"), str(source)], env=env)
    assert built.returncode == 0, built.stderr[-3000:]
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert made.returncode == 0, made.stderr
    wheel = next((root / "dist").glob("tfserve_kit-*.whl"))
    installed = _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                      "install", "--quiet", "-c", str(REPO / "constraints.txt"), str(wheel)],
                     env=env)  # the full environment's pip installs into the bare venv
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(rest_url, grpc_target, samples.npz) of ``serving serve`` from the full environment."""
    pytest.importorskip("tensorflow", reason="the server needs the full install")
    from exporter.config import ExportConfig, VerifySettings
    from exporter.export import export_run
    from tests.exporter.run_factory import write_run_dir

    root = tmp_path_factory.mktemp("served")
    run, base = root / "run", root / "models"
    write_run_dir(run, image_size=32, sample_size=32, steps=4, seed=0)
    export_run(ExportConfig(run_dir=run, model_base_path=base, name="tiny", version=1,
                            families=("savedmodel",), quantize=(),
                            verify=VerifySettings(latency_repeats=1)))
    with serving_process(root, ["--model_name=tiny", f"--model_base_path={base / 'tiny'}"]) \
            as (rest_url, grpc_target):
        import numpy as np

        samples = np.load(run / "samples.npz")
        data = root / "val.npz"
        np.savez(data, x=samples["x_val"][:16], y=samples["y_val"][:16])
        yield rest_url, grpc_target, data


def test_base_install_has_no_heavy_packages(base_venv: Path) -> None:
    code = (f"import importlib.util, json; print(json.dumps([m for m in {ABSENT!r} "
            "if importlib.util.find_spec(m) is not None]))")
    out = _run([str(base_venv / "bin" / "python"), "-c", code], cwd=base_venv)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


@pytest.mark.parametrize("command, extra", [("trainer", "train"), ("exporter", "export"),
                                            ("serving", "serve")])
def test_stage_commands_name_the_missing_extra(base_venv: Path, command: str,
                                               extra: str) -> None:
    out = _run([str(base_venv / "bin" / command), "--help"], cwd=base_venv)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"[{extra}]" in lines[0] and "pip install" in lines[0], out.stderr


def test_clients_predict_and_evaluate_over_rest_and_grpc(base_venv: Path, served) -> None:
    rest, grpc_target, data = served
    clients = str(base_venv / "bin" / "clients")
    for endpoint in (["--server", rest], ["--grpc", grpc_target]):
        predicted = _run([clients, "predict", str(data), "--model", "tiny",
                          "--json", *endpoint], cwd=base_venv)
        assert predicted.returncode == 0, predicted.stderr[-2000:]
        assert json.loads(predicted.stdout), predicted.stdout[:500]
        evaluated = _run([clients, "evaluate", "--data", str(data),
                          "--model", "tiny", *endpoint], cwd=base_venv)
        assert evaluated.returncode == 0, evaluated.stderr[-2000:]
        assert "accuracy" in evaluated.stdout.lower(), evaluated.stdout[-500:]
