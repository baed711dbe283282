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
    from exporter.bias_correction import bias_corrected_copy
    from exporter.int8_graph import input_scaling_names, rescaling_as_depthwise
    from exporter.quant_finetune import quantization_finetuned_copy
    from trainer.model import build_classifier

    size = max(32, REGISTRY[name].min_size)
    model = build_classifier(name, 3, size)
    x = np.random.default_rng(0).uniform(0, 255, (4, size, size, 3)).astype(np.float32)
    tuned, report = quantization_finetuned_copy(model, x, x, epochs=1, batch_size=4)
    rewritten, _ = rescaling_as_depthwise(tuned)
    np.testing.assert_allclose(rewritten.predict(x, verbose=0), tuned.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)  # the rewrite is float-identical
    corrected, correction = bias_corrected_copy(rewritten, x)
    assert report.rounded_tensors >= 1 and correction.corrected >= 1
    assert corrected.predict(x, verbose=0).shape == (4, 3)
    _check_float_stem(corrected, input_scaling_names(model), size, x, tmp_path)


def _check_float_stem(model, scaling, size: int, x: np.ndarray, tmp_path) -> None:
    from exporter.formats import INT8_FLOAT_STEM
    from exporter.quant_debug import debugger_errors, first_ops
    from exporter.savedmodel import write_savedmodel
    from exporter.tflite_export import TFLiteRunner, convert_tflite

    write_savedmodel(model, size, ("a", "b", "c"), 3, tmp_path)
    stem = []

    def float_stem(debugger):
        stem.extend(first_ops(debugger_errors(debugger), INT8_FLOAT_STEM, scaling))
        return [op.tensor for op in stem]

    path = tmp_path / "model_int8.tflite"
    path.write_bytes(convert_tflite(tmp_path, "int8", x, (), float_stem))
    assert len(stem) == INT8_FLOAT_STEM and not any(op.scopes() & scaling for op in stem)
    runner = TFLiteRunner(path)
    assert runner.input_details["image"]["dtype"] == np.uint8  # the input scaling is int8
    assert runner.predict(x).shape == (4, 3)
