"""The run-directory contract end to end: a real (tiny) ``trainer`` run, exported by
``exporter``, loaded by the ``serving`` backends; plus ``ModelCard``'s one-line refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common.run_contract import ModelCard, RunContractError  # noqa: E402


@pytest.mark.parametrize("data, message", [
    ({"image_size": 32}, "lacks num_classes, labels"),
    ({"image_size": 32, "num_classes": 3, "labels": ["a", "b"]}, "are inconsistent"),
    ({"image_size": 32, "num_classes": 1, "labels": ["a"], "input_name": "x"}, "needs 'image'"),
    ({"image_size": 32, "num_classes": 1, "labels": ["a"], "color_order": "BGR"},
     "color_order"),
    ([1, 2], "must hold a JSON object"),
])
def test_model_card_refuses_in_one_line(data, message) -> None:
    with pytest.raises(RunContractError, match=message) as info:
        ModelCard.parse(data)
    assert "\n" not in str(info.value)


def test_trainer_run_exports_and_serves(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow", reason="needs the [train,export,serve] extras")
    from exporter.config import ExportConfig, VerifySettings
    from exporter.export import export_run
    from serving.backends import create_backend
    from tests.trainer.data_factory import write_npz
    from trainer.config import make_config
    from trainer.fit import fit

    data = tmp_path / "tiny.npz"
    write_npz(data, n_per_class=8, classes=3, size=32, seed=0)
    run = tmp_path / "run"
    fit(make_config(data=str(data), backbone="small_cnn", weights="none", epochs=1,
                    batch_size=8, val_split=0.25, seed=1, out=str(run)), verbose=0)

    card = ModelCard.read(run)  # what the trainer wrote satisfies the typed contract
    assert card.num_classes == 3 and card.image_size == 32
    assert json.loads((run / "model.json").read_text()) == card.to_json_dict()

    base = tmp_path / "models"
    export_run(ExportConfig(run_dir=run, model_base_path=base, name="tiny", version=1,
                            families=("savedmodel", "onnx"), quantize=(),
                            verify=VerifySettings(latency_repeats=1)))
    version_dir = base / "tiny" / "1"
    x = np.load(run / "samples.npz")["x_val"][:4].astype(np.float32)
    outputs = {}
    for platform in ("tensorflow", "onnx"):
        backend = create_backend(platform)
        backend.load(version_dir)
        try:
            outputs[platform] = backend.predict("serving_default", {"image": x})["probabilities"]
        finally:
            backend.unload()
    assert outputs["tensorflow"].shape == (4, 3)
    np.testing.assert_allclose(outputs["tensorflow"].sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(outputs["onnx"], outputs["tensorflow"], atol=1e-4)
