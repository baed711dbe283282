"""The int8 gate: a model known to quantize badly is refused, and the refusal names the layers
that lose the most; ``--int8-float-ops`` keeps chosen op types float and ``--int8-float-stem``
the first ops (selective quantization)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exporter.config import ExportConfig, VerifySettings, parse_op_names
from exporter.errors import ExportError, ParityError
from tests.exporter.conftest import FAST_VERIFY
from tests.exporter.run_factory import write_run_dir


@pytest.fixture(scope="module")
def flat_run(tmp_path_factory) -> Path:
    """A tiny run whose softmax is nearly flat (logits scaled by 1e-3): the float files keep
    its top-1, a uint8 probabilities output (steps of 1/256) cannot."""
    import keras

    run = write_run_dir(tmp_path_factory.mktemp("runs") / "flat")
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    dense = model.get_layer("probabilities")
    dense.set_weights([w * 1e-3 for w in dense.get_weights()])
    model.save(run / "model.keras")
    model.save(run / "best.keras")
    return run


def test_int8_refusal_names_worst_layers(flat_run: Path, tmp_path: Path) -> None:
    config = ExportConfig(run_dir=flat_run, model_base_path=tmp_path, name="flat",
                          families=("savedmodel", "tflite"), quantize=("int8",),
                          verify=FAST_VERIFY)
    from exporter.export import export_run

    with pytest.raises(ParityError) as info:
        export_run(config)
    message = str(info.value)
    assert "tflite_int8: top-1 agreement" in message and "< required 97.00%" in message
    assert "int8 loses most in " in message
    clause = message.split("int8 loses most in ")[1]
    assert clause.count(" steps)") == 3  # three layers, each with its error
    assert any(op in clause for op in ("SOFTMAX", "FULLY_CONNECTED", "CONV_2D", "MEAN"))
    assert "--int8-float-ops" in message
    assert not (tmp_path / "flat" / "1").exists()  # nothing published
    assert info.value.report.get("tflite").passed  # the float file was fine


def _ops(data: bytes) -> list[tuple[int, int]]:
    """(builtin op code, first input's tensor type) of every op of a TFLite file, in order."""
    from mediapipe.tasks.metadata import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(data, 0)
    graph = model.Subgraphs(0)
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        ops.append((builtin, graph.Tensors(op.Inputs(0)).Type()))
    return ops


def test_int8_float_ops_keep_op_float(run_dir: Path, tmp_path: Path) -> None:
    from mediapipe.tasks.metadata import schema_py_generated as schema

    from exporter.export import export_run

    config = ExportConfig(run_dir=run_dir, model_base_path=tmp_path, name="sel",
                          families=("savedmodel", "tflite"), quantize=("int8",),
                          int8_float_ops=("FULLY_CONNECTED",), int8_float_stem=0,
                          verify=FAST_VERIFY)
    result = export_run(config)
    kinds: dict[int, set[int]] = {}
    for builtin, dtype in _ops((result.version_dir / "model_int8.tflite").read_bytes()):
        kinds.setdefault(builtin, set()).add(dtype)
    dense = schema.BuiltinOperator.FULLY_CONNECTED
    assert kinds[dense] == {schema.TensorType.FLOAT32}  # kept float
    assert kinds[schema.BuiltinOperator.CONV_2D] == {schema.TensorType.INT8}
    runner_io = result.report["formats"]["tflite_int8"]["io"]
    assert runner_io["inputs"]["image"]["dtype"] == "uint8"  # same I/O as plain int8
    assert result.parity.get("tflite_int8").passed


def test_parse_op_names() -> None:
    assert parse_op_names("DEPTHWISE_CONV_2D, CONV_2D") == ("DEPTHWISE_CONV_2D", "CONV_2D")
    assert parse_op_names("") == ()
    with pytest.raises(ValueError, match="bad op name 'conv'"):
        parse_op_names("conv")
    np.testing.assert_equal(parse_op_names(None), ())


def test_int8_float_ops_need_int8(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--int8-float-ops needs int8 in --quantize"):
        ExportConfig(run_dir=tmp_path, model_base_path=tmp_path, name="x",
                     quantize=("float16",), int8_float_ops=("CONV_2D",))


def test_no_bias_correction_needs_int8(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--no-int8-bias-correction needs int8 in --quantize"):
        ExportConfig(run_dir=tmp_path, model_base_path=tmp_path, name="x",
                     quantize=("float16",), int8_bias_correction=False)


def test_bias_correction_changes_the_int8_file_only(run_dir: Path, tmp_path: Path) -> None:
    from exporter.export import export_run

    files = {}
    for corrected in (True, False):
        config = ExportConfig(run_dir=run_dir, model_base_path=tmp_path / str(corrected),
                              name="bc", families=("tflite",), quantize=("int8",),
                              int8_bias_correction=corrected, verify=FAST_VERIFY)
        files[corrected] = export_run(config).version_dir
    from exporter.tflite_export import TFLiteRunner

    x = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype(np.float32)
    size = TFLiteRunner(files[True] / "model.tflite").input_details["image"]["shape"][1]
    x = x[:, :size, :size]
    outputs = {(c, f): TFLiteRunner(files[c] / f).predict(x)
               for c in (True, False) for f in ("model.tflite", "model_int8.tflite")}
    # the float file is the same model either way; the int8 file's weights differ
    np.testing.assert_array_equal(outputs[True, "model.tflite"], outputs[False, "model.tflite"])
    assert _int32_constants(files[True]) != _int32_constants(files[False])  # corrected biases


def _int32_constants(version_dir: Path) -> list[list[int]]:
    """The int8 file's int32 constant tensors (the quantized biases), in tensor order."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(version_dir / "model_int8.tflite"))
    found = []
    for detail in interpreter.get_tensor_details():
        if detail["dtype"] != np.int32 or not detail["shape"].size:
            continue
        try:
            found.append(interpreter.get_tensor(detail["index"]).ravel().tolist())
        except ValueError:  # not a constant (no data before allocation)
            continue
    assert found, "the int8 file has no int32 bias tensors"
    return found


def test_no_int8_finetune_needs_int8(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--no-int8-finetune needs int8 in --quantize"):
        ExportConfig(run_dir=tmp_path, model_base_path=tmp_path, name="x",
                     quantize=("float16",), int8_finetune=False)


def test_int8_finetune_is_reported_and_changes_the_int8_file_only(run_dir: Path,
                                                                  tmp_path: Path) -> None:
    import json

    from exporter.export import export_run
    from exporter.tflite_export import TFLiteRunner

    dirs, reports = {}, {}
    for finetune in (True, False):
        config = ExportConfig(run_dir=run_dir, model_base_path=tmp_path / str(finetune),
                              name="ft", families=("tflite",), quantize=("int8",),
                              int8_finetune=finetune, verify=FAST_VERIFY)
        dirs[finetune] = export_run(config).version_dir
        reports[finetune] = json.loads((dirs[finetune] / "export_report.json").read_text())
    steps = reports[True]["int8_preparation"]
    calib = np.load(run_dir / "samples.npz")["x_calib"]
    assert steps["finetune"]["training_images"] == len(calib)  # every x_calib image
    assert steps["finetune"]["distilled_images"] >= len(calib)
    assert steps["bias_correction"]["corrected_kernels"] > 0
    assert steps["rescaling_as_depthwise"] == 1  # the run's Rescaling(1/127.5, -1)
    assert "finetune" not in reports[False]["int8_preparation"]
    x = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype(np.float32)
    size = TFLiteRunner(dirs[True] / "model.tflite").input_details["image"]["shape"][1]
    x = x[:, :size, :size]
    np.testing.assert_array_equal(TFLiteRunner(dirs[True] / "model.tflite").predict(x),
                                  TFLiteRunner(dirs[False] / "model.tflite").predict(x))
    assert _int32_constants(dirs[True]) != _int32_constants(dirs[False])


def test_finetune_skips_the_images_the_gate_scores(run_dir: Path, tmp_path: Path) -> None:
    """Without samples.npz the gate scores the first images of --calibration-data: the
    fine-tuning must not distil on them."""
    import shutil

    from exporter.export import _finetune_images
    from exporter.run_dir import load_run_info

    bare = tmp_path / "run"
    shutil.copytree(run_dir, bare)
    (bare / "samples.npz").unlink()
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (40, 8, 8, 3)).astype(np.uint8)
    np.savez(tmp_path / "calib.npz", x=x, y=rng.integers(0, 2, 40))
    config = ExportConfig(run_dir=bare, model_base_path=tmp_path, name="x", quantize=("int8",),
                          calibration_data=tmp_path / "calib.npz",
                          verify=VerifySettings(limit=16))
    calibration = np.zeros((1, 8, 8, 3), np.float32)
    images = _finetune_images(load_run_info(bare), config, calibration)
    np.testing.assert_array_equal(images, x[16:])
    few = ExportConfig(run_dir=bare, model_base_path=tmp_path, name="x", quantize=("int8",),
                       calibration_data=tmp_path / "calib.npz", verify=VerifySettings(limit=40))
    with pytest.raises(ExportError, match="no training images left.*--no-int8-finetune"):
        _finetune_images(load_run_info(bare), few, calibration)


def test_the_int8_stem_stays_float_by_default(run_dir: Path, tmp_path: Path) -> None:
    """The first INT8_FLOAT_STEM quantized ops after the input scaling (at most half of them)
    run in float (between a DEQUANTIZE and a QUANTIZE), the scaling and every later op in
    int8, and the file keeps its uint8 input; ``--int8-float-stem 0`` gives a file where
    every op is int8; the report names the float ops."""
    import json

    from mediapipe.tasks.metadata import schema_py_generated as schema

    from exporter.export import export_run
    from exporter.formats import INT8_FLOAT_STEM

    conv = {schema.BuiltinOperator.CONV_2D, schema.BuiltinOperator.DEPTHWISE_CONV_2D}
    float32, int8 = schema.TensorType.FLOAT32, schema.TensorType.INT8
    files, reports = {}, {}
    for stem in (None, 0):
        config = ExportConfig(run_dir=run_dir, model_base_path=tmp_path / str(stem), name="st",
                              families=("tflite",), quantize=("int8",), int8_float_stem=stem,
                              verify=FAST_VERIFY)
        result = export_run(config)
        files[stem] = _ops((result.version_dir / "model_int8.tflite").read_bytes())
        reports[stem] = json.loads((result.version_dir / "export_report.json").read_text())
        assert result.parity.get("tflite_int8").passed
        runner_io = reports[stem]["formats"]["tflite_int8"]["io"]
        assert runner_io["inputs"]["image"]["dtype"] == "uint8"  # the same uint8 I/O
    # the run: Rescaling (as a 1x1 depthwise convolution) -> Conv -> Conv -> pool -> Dense
    # -> softmax: five quantized ops after the scaling, so the stem is capped at two
    assert INT8_FLOAT_STEM >= 2
    assert [dtype for builtin, dtype in files[None] if builtin in conv] == [int8, float32, float32]
    dense = [dtype for builtin, dtype in files[None]
             if builtin == schema.BuiltinOperator.FULLY_CONNECTED]
    assert dense == [int8]  # after the stem, int8 again
    assert {dtype for builtin, dtype in files[0] if builtin in conv} == {int8}
    stem = reports[None]["int8_preparation"]["float_stem"]
    assert len(stem) == 2 and all("CONV_2D" in op for op in stem)
    assert "float_stem" not in reports[0]["int8_preparation"]
    # the preparation treats the stem as the file does: the two convolutions' kernels are
    # not rounded and corrected (the unrounded outputs: tests/exporter/test_quant_finetune.py)
    prepared, full = reports[None]["int8_preparation"], reports[0]["int8_preparation"]
    assert (prepared["bias_correction"]["corrected_kernels"]
            == full["bias_correction"]["corrected_kernels"] - 2)


def test_int8_float_stem_needs_int8_and_a_count(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--int8-float-stem needs int8 in --quantize"):
        ExportConfig(run_dir=tmp_path, model_base_path=tmp_path, name="x",
                     quantize=("float16",), int8_float_stem=2)
    with pytest.raises(ValueError, match="bad --int8-float-stem -1; accepted: 0"):
        ExportConfig(run_dir=tmp_path, model_base_path=tmp_path, name="x",
                     quantize=("int8",), int8_float_stem=-1)
