"""``export_report.json``: the parity report, the per-format I/O and the "contract" block
that the ONNX/TFLite serving backends read (docs/contracts.md section 2)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from common.atomic import write_json
from exporter.formats import ExportFormat
from exporter.inspection import REPORT_FILE, describe_format
from exporter.parity import ParityReport
from exporter.run_dir import RunInfo
from exporter.signatures import IMAGE_KEY, PREDICT_OUTPUTS, SIGNATURE_NAMES


def differences(fmt: ExportFormat, io: dict[str, Any]) -> list[str]:
    """What this format lacks or does differently from the SavedModel's serving_default."""
    if fmt.family == "savedmodel":
        return []
    notes = [
        "only the serving_default contract (serve_raw, serve_bytes, classify are built "
        "around it by the serving backend)"
    ]
    outputs = io.get("outputs", {})
    missing = [name for name in PREDICT_OUTPUTS if name not in outputs]
    if missing:
        notes.append(f"missing outputs: {', '.join(missing)}")
    image = io.get("inputs", {}).get(IMAGE_KEY, {})
    if image.get("quantization"):
        q = image["quantization"]
        notes.append(
            f"input 'image' is {image['dtype']}: q = round(pixel / {q['scale']:.6g} + "
            f"{q['zero_point']}); quantized outputs: real = (q - zero_point) * scale"
        )
    if fmt.family == "onnx":
        notes.append("top_k_classes is an ONNX string tensor; labels also in metadata_props")
    if fmt.family == "tflite":
        notes.append(
            "only 'probabilities': on-device classifiers take score tensors only and do their "
            "own top-k; the serving backend builds the top_k_* outputs from it"
        )
        notes.append("TFLite Metadata inside (normalization, value range, labels.txt packed)")
    return notes


def contract_block(
    run: RunInfo, top_k: int, formats: list[ExportFormat], io: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The ``contract`` block: sizes, names and the float32 ONNX/TFLite files' outputs."""
    block: dict[str, Any] = {
        "image_size": run.image_size,
        "num_classes": run.num_classes,
        "top_k": top_k,
        "input_name": IMAGE_KEY,
        "labels_file": "labels.txt",
    }
    for fmt in formats:
        if fmt.name in ("onnx", "tflite"):
            block[fmt.name] = {"file": fmt.file, "outputs": sorted(io[fmt.name]["outputs"])}
    if any(f.family == "savedmodel" for f in formats):
        block["savedmodel"] = {"signatures": list(SIGNATURE_NAMES)}
    return block


def build_report(
    version_dir: Path,
    run: RunInfo,
    top_k: int,
    formats: list[ExportFormat],
    parity: ParityReport,
    timings: dict[str, float],
) -> dict[str, Any]:
    """The full ``export_report.json`` content for a staged version directory."""
    io = {fmt.name: describe_format(version_dir, fmt) for fmt in formats}
    return {
        "format_version": 1,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": {"run_dir": str(run.path), "backbone": run.backbone},
        "contract": contract_block(run, top_k, formats, io),
        "formats": {
            fmt.name: {
                "file": fmt.file,
                "precision": fmt.precision,
                "io": io[fmt.name],
                "differences": differences(fmt, io[fmt.name]),
            }
            for fmt in formats
        },
        "parity": parity.to_dict(),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }


def write_report(version_dir: Path, report: dict[str, Any]) -> Path:
    """Write ``export_report.json`` atomically."""
    path = version_dir / REPORT_FILE
    return write_json(path, report)
