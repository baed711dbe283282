"""TF-Hub runs (a TFSMLayer backbone) export without ``--trust-model``, through the loader the
trainer documents: only the SavedModels model.json lists, no Python code. Built locally from a
tiny hub-style SavedModel (no download)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from exporter.errors import ExportError
from tests.exporter.conftest import quick_config
from tests.exporter.run_factory import save_hub_module, write_run_dir


@pytest.fixture(scope="module")
def hub_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hub")
    module = save_hub_module(root / "feature_vector")
    return write_run_dir(root / "run", image_size=32, steps=30, hub_module=module)


def test_hub_run_exports_without_trust_model(hub_run: Path, tmp_path: Path) -> None:
    import tensorflow as tf

    from exporter.export import export_run

    result = export_run(quick_config(hub_run, tmp_path / "models",
                                     families=("savedmodel", "tflite")))
    version = result.version_dir
    assert (version / "saved_model.pb").is_file() and (version / "model.tflite").is_file()
    # self-contained: the SavedModel still answers with the hub directory gone
    module = Path(json.loads((hub_run / "model.json").read_text())["hub_modules"][0])
    moved = module.with_name("moved_away")
    module.rename(moved)
    try:
        loaded = tf.saved_model.load(str(version))
        x = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3)).astype("float32")
        probs = loaded.signatures["serving_default"](image=tf.constant(x))["probabilities"]
        assert probs.shape == (3, 4)
        np.testing.assert_allclose(np.sum(probs.numpy(), axis=1), 1.0, atol=1e-5)
    finally:
        moved.rename(module)


def _rewrite_meta(run: Path, **changes: object) -> None:
    meta = json.loads((run / "model.json").read_text())
    meta.update(changes)
    (run / "model.json").write_text(json.dumps(meta))


def test_unlisted_savedmodel_is_refused(hub_run: Path, tmp_path: Path) -> None:
    from exporter.export import export_run

    run = tmp_path / "run"
    shutil.copytree(hub_run, run)
    _rewrite_meta(run, hub_modules=[str(tmp_path / "elsewhere")])
    with pytest.raises(ExportError, match="does not list in hub_modules"):
        export_run(quick_config(run, tmp_path / "models"))


def test_missing_module_is_one_clear_line(hub_run: Path, tmp_path: Path) -> None:
    from exporter.export import export_run

    root = tmp_path / "copy"
    module = save_hub_module(root / "fv")
    run = write_run_dir(root / "run", image_size=32, steps=2, hub_module=module)
    shutil.rmtree(module)
    with pytest.raises(ExportError, match="gone"):
        export_run(quick_config(run, tmp_path / "models"))


def test_python_code_in_a_hub_run_is_refused(hub_run: Path, tmp_path: Path) -> None:
    """A hub run's .keras with a Lambda layer: the trusted loader still refuses it."""
    from exporter.export import export_run

    run = tmp_path / "run"
    shutil.copytree(hub_run, run)
    with zipfile.ZipFile(hub_run / "model.keras") as src:
        items = {name: src.read(name) for name in src.namelist()}
    config = json.loads(items["config.json"])
    config["config"]["layers"][1]["class_name"] = "Lambda"
    items["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(run / "model.keras", "w") as dst:
        for name, data in items.items():
            dst.writestr(name, data)
    with pytest.raises(ExportError, match="Python code"):
        export_run(quick_config(run, tmp_path / "models"))


def test_hub_run_goes_through_every_int8_preparation_step(hub_run: Path, tmp_path: Path) -> None:
    """Keras refuses to re-create a TFSMLayer in safe mode; the int8 steps share it instead."""
    from exporter.config import Thresholds, VerifySettings
    from exporter.export import export_run

    verify = VerifySettings(latency_repeats=2, thresholds=Thresholds(int8=0.0))
    result = export_run(quick_config(hub_run, tmp_path / "models", families=("tflite",),
                                     quantize=("int8",), verify=verify))
    steps = json.loads((result.version_dir / "export_report.json").read_text())
    steps = steps["int8_preparation"]
    assert steps["rescaling_as_depthwise"] == 1 and steps["finetune"]["epochs"] > 0
    # the Dense head and the depthwise conv that replaced the Rescaling
    assert steps["bias_correction"]["corrected_kernels"] == 2
    assert (result.version_dir / "model_int8.tflite").is_file()
