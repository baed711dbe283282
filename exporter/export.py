"""``exporter export``: run directory -> verified, atomically published version directory."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from exporter.config import ExportConfig
from exporter.datasets import ImageSet, load_calibration_set, load_eval_set, to_model_input
from exporter.errors import ConversionError, ExportError, ParityError, PublishError
from exporter.formats import (
    INT8_FLOAT_STEM,
    REGISTRY,
    ExportFormat,
    WriteContext,
    select_formats,
)
from exporter.parity import ParityReport
from exporter.publish import (
    check_target,
    describe_os_error,
    discard,
    make_staging,
    next_version,
    publish,
)
from exporter.report import build_report, write_report
from exporter.run_dir import RunInfo, load_keras_model, load_run_info
from exporter.verify import evaluate_formats

log = logging.getLogger(__name__)

BIG_TFLITE_BYTES = 50 * 2**20
SAVEDMODEL_ITEMS = ("saved_model.pb", "variables", "assets", "assets.extra", "fingerprint.pb")


@dataclass
class ExportResult:
    """A published version: where, what was measured, how long it took."""

    version_dir: Path
    version: int
    parity: ParityReport
    report: dict[str, Any]
    seconds: float


def resolve_top_k(top_k: int | None, num_classes: int) -> int:
    """``top_k`` or the default min(5, C); must be within 1..C."""
    k = min(5, num_classes) if top_k is None else int(top_k)
    if not 1 <= k <= num_classes:
        raise ExportError(f"--top-k must be between 1 and {num_classes} (classes), got {k}")
    return k


def _eval_set(run: RunInfo, config: ExportConfig) -> ImageSet:
    if run.samples_path.is_file():
        return load_eval_set(run.samples_path, config.verify.limit)
    if config.calibration_data is not None:
        return load_eval_set(config.calibration_data, config.verify.limit)
    raise ExportError(f"{run.path} has no samples.npz and no --calibration-data to verify on")


def _calibration(run: RunInfo, config: ExportConfig) -> np.ndarray | None:
    if "int8" not in config.tflite_variants() or "tflite" not in config.families:
        return None
    if config.calibration_data is not None:
        images = load_calibration_set(config.calibration_data, config.calibration_limit)
    else:
        try:
            images = load_calibration_set(run.samples_path, config.calibration_limit)
        except ExportError as exc:
            raise ExportError(
                "int8 needs calibration images: pass --calibration-data FILE.npz (x or x_calib)"
                f" or drop int8 from --quantize ({exc})"
            ) from exc
    return to_model_input(images.x, run.image_size)


def _finetune_images(run: RunInfo, config: ExportConfig,
                     calibration: np.ndarray | None) -> np.ndarray | None:
    """The raw training images the int8 fine-tuning distils on: every calibration image of
    the calibration source (``--calibration-data``, else the run's ``x_calib``), except the
    ones the parity gate scores when it reads the same file. None: no fine-tuning."""
    if calibration is None or not config.int8_finetune:
        return None
    source = config.calibration_data if config.calibration_data is not None else run.samples_path
    images = load_calibration_set(source).x
    if not run.samples_path.is_file():  # the gate scores the first images of the same file
        images = images[config.verify.limit :]
    if len(images) == 0:
        raise ExportError(
            f"the int8 fine-tuning has no training images left in {source} after the "
            f"{config.verify.limit} the parity check scores: pass more images or "
            "--no-int8-finetune")
    return images


def _int8_diagnosis(staging: Path, calibration: np.ndarray | None) -> str:
    """The layers that lose the most under int8 (TFLite's quantization debugger), as one
    clause of the refusal message."""
    from exporter.quant_debug import worst_layers

    try:
        worst = worst_layers(staging, calibration)
    except Exception as exc:  # the diagnosis must never hide the refusal itself
        log.warning("int8 per-layer diagnosis failed: %s", exc)
        return "int8 per-layer diagnosis unavailable"
    return "int8 loses most in " + ", ".join(e.describe() for e in worst) + (
        " (rmse of each op's int8 output vs float, in quantization steps; rounding alone is"
        " ~0.3): keep them float with --int8-float-ops, or drop int8 from --quantize"
    )


def _write_all(ctx: WriteContext, formats: list[ExportFormat]) -> dict[str, float]:
    """Write the SavedModel, then every other format from it; seconds per format."""
    timings = {}
    for fmt in [REGISTRY["savedmodel"], *[f for f in formats if f.family != "savedmodel"]]:
        start = time.perf_counter()
        try:
            fmt.write(ctx)
        except ExportError:
            raise
        except OSError as exc:
            raise PublishError(describe_os_error(exc, f"writing {fmt.file}")) from exc
        except Exception as exc:
            if "No space left on device" in str(exc):  # TensorFlow's C++ file writers
                message = f"disk full while writing {fmt.file}; nothing was published"
                raise PublishError(message) from exc
            raise ConversionError(
                f"{fmt.name}: {type(exc).__name__}: {exc}".splitlines()[0]
            ) from exc
        timings[f"write_{fmt.name}"] = time.perf_counter() - start
        if fmt.family == "tflite" and (ctx.staging / fmt.file).stat().st_size > BIG_TFLITE_BYTES:
            size_mb = (ctx.staging / fmt.file).stat().st_size / 2**20
            log.warning("%s is %.0f MB: large for a phone app", fmt.file, size_mb)
    return timings


def _drop_savedmodel(staging: Path) -> None:
    """Remove the SavedModel built only as the conversion source (not requested)."""
    for item in SAVEDMODEL_ITEMS:
        path = staging / item
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def export_run(config: ExportConfig) -> ExportResult:
    """Export, verify and publish; raises ``ExportError`` (nothing published) on any problem."""
    started = time.perf_counter()
    run = load_run_info(config.run_dir)
    formats = select_formats(config.families, config.tflite_variants())
    top_k = resolve_top_k(config.top_k, run.num_classes)
    base = Path(config.model_base_path) / config.name
    version = config.version if config.version is not None else next_version(base)
    check_target(base, version, config.force)
    eval_set = _eval_set(run, config)
    calibration = _calibration(run, config)
    model = load_keras_model(run, trust_model=config.trust_model)
    x = to_model_input(eval_set.x, run.image_size)
    reference = np.asarray(model.predict(x, batch_size=32, verbose=0), dtype=np.float32)
    staging = make_staging(base)
    try:
        ctx = WriteContext(
            staging=staging,
            run=run,
            model=model,
            top_k=top_k,
            opset=config.opset,
            model_name=config.name,
            warmup_images=x,
            warmup_requests=config.warmup_requests,
            calibration=calibration,
            version=version,
            int8_float_ops=config.int8_float_ops,
            int8_bias_correction=config.int8_bias_correction,
            int8_finetune_images=_finetune_images(run, config, calibration),
            int8_float_stem=(INT8_FLOAT_STEM if config.int8_float_stem is None
                             else config.int8_float_stem),
        )
        timings = _write_all(ctx, formats)
        (staging / "labels.txt").write_text("\n".join(run.labels) + "\n")
        start = time.perf_counter()
        parity = evaluate_formats(
            staging, formats, x, eval_set.y, reference, "keras", eval_set.source, config.verify
        )
        timings["verify"] = time.perf_counter() - start
        if not parity.passed:
            reasons = [f.shortfall() for f in parity.failures()]
            if any(f.precision == "int8" for f in parity.failures()):
                reasons.append(_int8_diagnosis(staging, calibration))
            raise ParityError("not published: " + "; ".join(reasons), parity)
        if not any(f.family == "savedmodel" for f in formats):
            _drop_savedmodel(staging)
        timings["total"] = time.perf_counter() - started
        report = build_report(staging, run, top_k, formats, parity, timings)
        if ctx.int8_steps:
            report["int8_preparation"] = ctx.int8_steps
        write_report(staging, report)
        target = publish(staging, base, version, config.force)
    except OSError as exc:
        discard(staging)
        raise PublishError(describe_os_error(exc, f"exporting to {base}")) from exc
    except BaseException:
        discard(staging)
        raise
    return ExportResult(target, version, parity, report, time.perf_counter() - started)
