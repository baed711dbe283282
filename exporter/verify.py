"""Measure every format of a version directory against a reference (the parity report)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from exporter.config import VerifySettings
from exporter.errors import ExportError
from exporter.formats import ExportFormat
from exporter.inspection import file_size
from exporter.parity import FormatReport, ParityReport, accuracy, compare, median_latency_ms

log = logging.getLogger(__name__)


def evaluate_formats(
    version_dir: Path,
    formats: list[ExportFormat],
    x: np.ndarray,
    y: np.ndarray | None,
    reference_probs: np.ndarray,
    reference: str,
    data_source: str,
    settings: VerifySettings,
) -> ParityReport:
    """Run every format on ``x`` (float32 ``(N, S, S, 3)``) and compare with
    ``reference_probs``; latency is the median of ``settings.latency_repeats`` calls."""
    report = ParityReport(
        reference=reference,
        data_source=data_source,
        n_samples=len(x),
        reference_accuracy=accuracy(reference_probs, y),
    )
    for fmt in formats:
        runner = fmt.runner(version_dir)
        probs = np.concatenate([runner.predict(x[i : i + 32]) for i in range(0, len(x), 32)])
        agree, max_diff, mean_diff = compare(reference_probs, probs)
        latency = {
            str(batch): median_latency_ms(runner.predict, x, batch, settings.latency_repeats)
            for batch in settings.latency_batches
        }
        item = FormatReport(
            format=fmt.name,
            file=fmt.file,
            precision=fmt.precision,
            size_bytes=file_size(version_dir, fmt),
            n_samples=len(x),
            top1_agreement=agree,
            max_abs_diff=max_diff,
            mean_abs_diff=mean_diff,
            threshold=settings.thresholds.for_precision(fmt.precision),
            accuracy=accuracy(probs, y),
            latency_ms=latency,
        )
        log.info("%s: agreement %.4f, max |dp| %.2e", fmt.name, agree, max_diff)
        report.formats.append(item)
    return report


def _reference(version_dir: Path, run_dir: Path | None, x: np.ndarray) -> tuple[str, np.ndarray]:
    """Probabilities of the Keras model (when the run directory is known) or else of the
    SavedModel's serving_default, which the export checked against Keras."""
    if run_dir is not None and (run_dir / "model.json").is_file():
        from exporter.run_dir import load_keras_model, load_run_info

        model = load_keras_model(load_run_info(run_dir))
        return "keras", np.asarray(model.predict(x, batch_size=32, verbose=0), np.float32)
    if not (version_dir / "saved_model.pb").is_file():
        raise ExportError(f"{version_dir} has no SavedModel; pass --run-dir for a Keras reference")
    from exporter.savedmodel import SavedModelRunner

    runner = SavedModelRunner(version_dir)
    probs = np.concatenate([runner.predict(x[i : i + 32]) for i in range(0, len(x), 32)])
    return "savedmodel", probs


def verify_version(
    version_dir: Path | str,
    data: Path | None = None,
    run_dir: Path | None = None,
    settings: VerifySettings | None = None,
) -> ParityReport:
    """The parity and speed report of every format in ``version_dir``.

    Images: ``data`` (npz with ``x``/``y`` or a run's samples.npz), else the samples of
    ``run_dir`` or of the run recorded in export_report.json.
    """
    from exporter.datasets import load_eval_set, to_model_input
    from exporter.inspection import inspect_version, present_formats, read_report

    settings = settings or VerifySettings()
    version_dir = Path(version_dir)
    info = inspect_version(version_dir)
    recorded = read_report(version_dir).get("source", {}).get("run_dir")
    if run_dir is None and recorded and (Path(recorded) / "model.json").is_file():
        run_dir = Path(recorded)
    if data is None:
        if run_dir is None or not (run_dir / "samples.npz").is_file():
            raise ExportError("no images to verify on: pass --data FILE.npz or --run-dir RUN_DIR")
        data = run_dir / "samples.npz"
    size = info["contract"].get("image_size")
    if size is None:
        raise ExportError(f"{version_dir}/export_report.json lacks contract.image_size")
    images = load_eval_set(data, settings.limit)
    x = to_model_input(images.x, int(size))
    reference, probs = _reference(version_dir, run_dir, x)
    formats = present_formats(version_dir)
    return evaluate_formats(
        version_dir, formats, x, images.y, probs, reference, images.source, settings
    )
