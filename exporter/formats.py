"""The registry of export formats: name -> file, precision, writer and runner.

Every format is written into a staging directory from the SavedModel already there (the
SavedModel itself is written first from the Keras model) and run through a runner with
``predict(x float32 (N, S, S, 3)) -> probabilities (N, C)`` for the parity report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from exporter.errors import ExportError
from exporter.run_dir import RunInfo

if TYPE_CHECKING:
    from exporter.quant_debug import FloatStem


class Runner(Protocol):
    """Runs one exported file on float32 pixel batches."""

    def predict(self, x: np.ndarray) -> np.ndarray: ...


# The int8 file keeps the first quantized ops after its input scaling float (a MobileNet's
# conv1 to conv_dw_3; at most half of a model's quantized ops): chosen on CIFAR-100 images
# no CIFAR-10 run has seen, BENCHMARKS.md section 8.
INT8_FLOAT_STEM = 6


@dataclass
class WriteContext:
    """What writers need: where to write and what to write from."""

    staging: Path
    run: RunInfo
    model: Any
    top_k: int
    opset: int
    model_name: str
    warmup_images: np.ndarray
    warmup_requests: int
    calibration: np.ndarray | None = None
    version: int = 1
    int8_float_ops: tuple[str, ...] = ()
    int8_bias_correction: bool = True
    # raw training images to distil on before the int8 conversion (None: no fine-tuning)
    int8_finetune_images: np.ndarray | None = None
    int8_float_stem: int = 0  # the first quantized ops kept float (selective quantization)
    int8_steps: dict[str, Any] = field(default_factory=dict)  # what the int8 writer did


@dataclass(frozen=True)
class ExportFormat:
    """One exportable artifact of a version directory."""

    name: str
    family: str
    precision: str
    file: str
    write: Callable[[WriteContext], None]
    runner: Callable[[Path], Runner]


def _write_savedmodel(ctx: WriteContext) -> None:
    from exporter.savedmodel import write_savedmodel
    from exporter.warmup import write_warmup

    write_savedmodel(ctx.model, ctx.run.image_size, ctx.run.labels, ctx.top_k, ctx.staging)
    write_warmup(ctx.staging, ctx.warmup_images, ctx.model_name, ctx.warmup_requests)


def _savedmodel_runner(version_dir: Path) -> Runner:
    from exporter.savedmodel import SavedModelRunner

    return SavedModelRunner(version_dir)


def _tflite_writer(precision: str, file: str) -> Callable[[WriteContext], None]:
    def write(ctx: WriteContext) -> None:
        from exporter.tflite_export import convert_tflite
        from exporter.tflite_metadata import with_run_metadata

        if precision == "int8":
            data = prepared_int8(ctx)
        else:
            data = convert_tflite(ctx.staging, precision, ctx.calibration, ctx.int8_float_ops)
        data = with_run_metadata(data, ctx.run, ctx.model_name, ctx.version, precision)
        (ctx.staging / file).write_bytes(data)

    return write


def _planned_stem(ctx: WriteContext) -> FloatStem:
    """The float stem of the model's int8 conversion:
    the first ``ctx.int8_float_stem`` quantized ops after the input scaling, named by the
    converter itself on the rewritten model, before any preparation, so that the fine-tuning
    and the bias correction treat those layers as the file will (float)."""
    import tempfile

    from exporter.int8_graph import input_scaling_names, rescaling_as_depthwise
    from exporter.model_copy import leaves
    from exporter.quant_debug import float_stem, quantized_ops
    from exporter.savedmodel import write_savedmodel

    rewritten, _ = rescaling_as_depthwise(ctx.model)
    with tempfile.TemporaryDirectory(prefix="int8-ops-") as tmp:
        write_savedmodel(rewritten, ctx.run.image_size, ctx.run.labels, ctx.top_k, Path(tmp))
        ops = quantized_ops(Path(tmp), ctx.calibration)
    names = {layer.name for layer in leaves(ctx.model)}
    return float_stem(ops, ctx.int8_float_stem, input_scaling_names(ctx.model), names)


def prepared_int8(ctx: WriteContext) -> bytes:
    """The int8 file converted from a copy of the model fine-tuned for int8 activations
    (``exporter.quant_finetune``, unless turned off), with its Rescaling as a depthwise
    convolution (``exporter.int8_graph``) and bias-corrected (``exporter.bias_correction``,
    unless turned off), written as a SavedModel outside the staging directory, and converted
    with its first ``ctx.int8_float_stem`` quantized ops after the input scaling kept float.
    The preparation knows that stem: the fine-tuning leaves the stem's inner outputs
    unrounded and the correction leaves its kernels float. What was done goes to
    ``ctx.int8_steps``."""
    import tempfile
    import time

    from exporter.datasets import to_model_input
    from exporter.savedmodel import write_savedmodel
    from exporter.tflite_export import convert_tflite, require_calibration

    require_calibration(ctx.calibration)
    stem = _planned_stem(ctx) if ctx.int8_float_stem else None
    source = ctx.model
    if ctx.int8_finetune_images is not None:
        from exporter.quant_finetune import distillation_set, quantization_finetuned_copy

        start = time.perf_counter()
        images = distillation_set(ctx.int8_finetune_images)
        source, report = quantization_finetuned_copy(
            source, images, ctx.calibration,
            lambda batch: to_model_input(batch, ctx.run.image_size),
            unrounded=stem.float_outputs if stem else ())
        ctx.int8_steps["finetune"] = {
            "training_images": len(ctx.int8_finetune_images), "distilled_images": len(images),
            "epochs": report.epochs, "rounded_tensors": report.rounded_tensors,
            "loss_first_epoch": round(report.loss_first, 6),
            "loss_last_epoch": round(report.loss_last, 6),
            "seconds": round(time.perf_counter() - start, 1)}
    from exporter.int8_graph import input_scaling_names, rescaling_as_depthwise

    scaling = input_scaling_names(source)
    source, replaced = rescaling_as_depthwise(source)
    ctx.int8_steps["rescaling_as_depthwise"] = replaced
    if ctx.int8_bias_correction:
        from exporter.bias_correction import bias_corrected_copy

        source, correction = bias_corrected_copy(source, ctx.calibration,
                                                 keep_float=stem.layers if stem else ())
        ctx.int8_steps["bias_correction"] = {"corrected_kernels": correction.corrected,
                                             "rounded_only": correction.rounded_only}
    with tempfile.TemporaryDirectory(prefix="int8-prepared-") as tmp:
        write_savedmodel(source, ctx.run.image_size, ctx.run.labels, ctx.top_k, Path(tmp))
        if stem is None:
            return convert_tflite(Path(tmp), "int8", ctx.calibration, ctx.int8_float_ops)

        def float_nodes(debugger: Any) -> list[str]:
            from exporter.quant_debug import debugger_errors, float_stem

            # the same ops, named by the debugger that converts (the input scaling stays
            # int8: the file keeps its uint8 input)
            final = float_stem(debugger_errors(debugger), ctx.int8_float_stem, scaling,
                               stem.layers)
            # (by the Keras layers fused into them: an op's first tensor name can change
            # with the preparation, e.g. to its BatchNormalization's)
            if final.layers != stem.layers or len(final.ops) != len(stem.ops):
                raise ExportError(
                    f"the int8 float stem changed during the preparation: planned "
                    f"{stem.describe()}, converting {final.describe()}")
            ctx.int8_steps["float_stem"] = stem.describe()
            return [op.tensor for op in final.ops]

        return convert_tflite(Path(tmp), "int8", ctx.calibration, ctx.int8_float_ops,
                              float_nodes)


def _tflite_runner(file: str) -> Callable[[Path], Runner]:
    def runner(version_dir: Path) -> Runner:
        from exporter.tflite_export import TFLiteRunner

        return TFLiteRunner(version_dir / file)

    return runner


def _write_onnx(ctx: WriteContext) -> None:
    from exporter.onnx_export import convert_onnx, onnx_metadata

    run = ctx.run
    meta = onnx_metadata(run.labels, run.image_size, ctx.top_k, run.backbone)
    data = convert_onnx(ctx.staging, run.image_size, ctx.opset, meta)
    (ctx.staging / "model.onnx").write_bytes(data)


def _onnx_runner(version_dir: Path) -> Runner:
    from exporter.onnx_export import OnnxRunner

    return OnnxRunner(version_dir / "model.onnx")


def _tflite_format(precision: str) -> ExportFormat:
    name = "tflite" if precision == "float32" else f"tflite_{precision}"
    file = "model.tflite" if precision == "float32" else f"model_{precision}.tflite"
    return ExportFormat(
        name, "tflite", precision, file, _tflite_writer(precision, file), _tflite_runner(file)
    )


REGISTRY: dict[str, ExportFormat] = {
    fmt.name: fmt
    for fmt in (
        ExportFormat(
            "savedmodel",
            "savedmodel",
            "float32",
            "saved_model.pb",
            _write_savedmodel,
            _savedmodel_runner,
        ),
        _tflite_format("float32"),
        _tflite_format("float16"),
        _tflite_format("dynamic"),
        _tflite_format("int8"),
        ExportFormat("onnx", "onnx", "float32", "model.onnx", _write_onnx, _onnx_runner),
    )
}


def select_formats(families: tuple[str, ...], quantize: tuple[str, ...]) -> list[ExportFormat]:
    """Registry entries for the requested families and TFLite quantizations, in build order
    (SavedModel first: the others are converted from it)."""
    if not families:
        raise ExportError("no format requested; accepted: savedmodel, tflite, onnx")
    if quantize and "tflite" not in families:
        raise ExportError("--quantize needs the tflite format (add it to --formats)")
    chosen = []
    for fmt in REGISTRY.values():
        if fmt.family not in families:
            continue
        if fmt.family == "tflite" and fmt.precision != "float32" and fmt.precision not in quantize:
            continue
        chosen.append(fmt)
    return chosen
