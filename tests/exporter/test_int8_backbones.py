"""The int8 preparation (fine-tuning, Rescaling rewrite, bias correction) goes through every
architecture the trainer's backbone registry builds (untrained, small inputs): no layer it
cannot copy, round or correct; and the float stem leaves the input scaling int8, so every
backbone's int8 file keeps its uint8 input."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.backbones import REGISTRY

keras = pytest.importorskip("keras")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_backbone_goes_through_the_int8_preparation(name: str, tmp_path) -> None:
    """The exporter's own int8 path (``exporter.formats.prepared_int8``: the stem planned by
    the converter, fine-tuning, rewrite, bias correction, conversion with the stem float)."""
    from types import SimpleNamespace

    from exporter.formats import INT8_FLOAT_STEM, WriteContext, prepared_int8
    from exporter.int8_graph import input_scaling_names, rescaling_as_depthwise
    from exporter.tflite_export import TFLiteRunner
    from trainer.model import build_classifier

    size = max(32, REGISTRY[name].min_size)
    model = build_classifier(name, 3, size)
    x = np.random.default_rng(0).uniform(0, 255, (4, size, size, 3)).astype(np.float32)
    rewritten, _ = rescaling_as_depthwise(model)
    np.testing.assert_allclose(rewritten.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)  # the rewrite is float-identical
    run = SimpleNamespace(image_size=size, labels=("a", "b", "c"))
    ctx = WriteContext(staging=tmp_path, run=run, model=model, top_k=3, opset=0,
                       model_name=name, warmup_images=x[:0], warmup_requests=0,
                       calibration=x, int8_finetune_images=x.astype(np.uint8),
                       int8_float_stem=INT8_FLOAT_STEM)
    path = tmp_path / "model_int8.tflite"
    path.write_bytes(prepared_int8(ctx))
    steps = ctx.int8_steps
    assert steps["finetune"]["rounded_tensors"] >= 1
    assert steps["bias_correction"]["corrected_kernels"] >= 1
    stem = [op.split(" ")[0] for op in steps["float_stem"]]
    assert 1 <= len(stem) <= INT8_FLOAT_STEM and not set(stem) & input_scaling_names(model)
    runner = TFLiteRunner(path)
    assert runner.input_details["image"]["dtype"] == np.uint8  # the input scaling is int8
    assert runner.predict(x).shape == (4, 3)
