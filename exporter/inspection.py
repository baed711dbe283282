"""What a client needs to know about a version directory: signatures, names, shapes, dtypes,
quantization, labels and sizes of every file in it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exporter.errors import ExportError
from exporter.formats import REGISTRY, ExportFormat

REPORT_FILE = "export_report.json"


def file_size(version_dir: Path, fmt: ExportFormat) -> int:
    """Bytes of a format on disk (the SavedModel counts saved_model.pb and variables/)."""
    if fmt.family == "savedmodel":
        files = [version_dir / fmt.file, *(version_dir / "variables").glob("*")]
        return sum(p.stat().st_size for p in files if p.is_file())
    return (version_dir / fmt.file).stat().st_size


def present_formats(version_dir: Path) -> list[ExportFormat]:
    """Registry formats whose file exists in ``version_dir``."""
    return [fmt for fmt in REGISTRY.values() if (version_dir / fmt.file).is_file()]


def _tensor_info(info: Any) -> dict[str, Any]:
    from tensorflow.core.framework import types_pb2

    dims = [] if info.tensor_shape.unknown_rank else [d.size for d in info.tensor_shape.dim]
    dtype = types_pb2.DataType.Name(info.dtype).removeprefix("DT_").lower()
    return {"dtype": dtype, "shape": dims}


def describe_savedmodel(version_dir: Path) -> dict[str, Any]:
    """Signatures of ``saved_model.pb``: method name, inputs and outputs (read from the proto,
    without loading the graph)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((version_dir / "saved_model.pb").read_bytes())
    signatures = {}
    for name, sig in sorted(proto.meta_graphs[0].signature_def.items()):
        if name.startswith("__"):
            continue
        signatures[name] = {
            "method_name": sig.method_name,
            "inputs": {k: _tensor_info(v) for k, v in sorted(sig.inputs.items())},
            "outputs": {k: _tensor_info(v) for k, v in sorted(sig.outputs.items())},
        }
    return {"signatures": signatures}


def describe_format(version_dir: Path, fmt: ExportFormat) -> dict[str, Any]:
    """Inputs/outputs (and quantization or metadata) of one format's file."""
    if fmt.family == "savedmodel":
        return describe_savedmodel(version_dir)
    runner = fmt.runner(version_dir)
    return runner.describe()  # type: ignore[attr-defined]


def read_report(version_dir: Path) -> dict[str, Any]:
    """``export_report.json`` of a version (empty dict if absent)."""
    path = version_dir / REPORT_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ExportError(f"{path} is not valid JSON: {exc}") from exc


def inspect_version(version_dir: Path | str) -> dict[str, Any]:
    """Everything a client needs about ``version_dir`` as a JSON-ready dict."""
    version_dir = Path(version_dir)
    if not version_dir.is_dir():
        raise ExportError(f"version directory {version_dir} does not exist")
    formats = present_formats(version_dir)
    if not formats:
        raise ExportError(
            f"{version_dir} holds no exported model (saved_model.pb, *.tflite, *.onnx)"
        )
    labels_path = version_dir / "labels.txt"
    labels = labels_path.read_text().splitlines() if labels_path.is_file() else []
    report = read_report(version_dir)
    return {
        "version_dir": str(version_dir),
        "contract": report.get("contract", {}),
        "labels": labels,
        "formats": {
            fmt.name: {
                "file": fmt.file,
                "precision": fmt.precision,
                "size_bytes": file_size(version_dir, fmt),
                **describe_format(version_dir, fmt),
            }
            for fmt in formats
        },
    }


def format_inspection(info: dict[str, Any]) -> str:
    """Human-readable text of ``inspect_version`` output."""
    lines = [f"version: {info['version_dir']}"]
    contract = info.get("contract") or {}
    if contract:
        lines.append(
            f"input '{contract.get('input_name')}' float32 [-1, {contract.get('image_size')}, "
            f"{contract.get('image_size')}, 3] RGB 0..255; {contract.get('num_classes')} classes;"
            f" top_k={contract.get('top_k')}"
        )
    lines.append(f"labels: {', '.join(info['labels'])}")
    for name, fmt in info["formats"].items():
        lines.append(f"[{name}] {fmt['file']} ({fmt['size_bytes']} bytes, {fmt['precision']})")
        groups = fmt.get("signatures") or {"serving_default": fmt}
        for sig_name, sig in groups.items():
            method = f" ({sig['method_name']})" if "method_name" in sig else ""
            lines.append(f"  {sig_name}{method}")
            for kind in ("inputs", "outputs"):
                for tensor, spec in sig.get(kind, {}).items():
                    quant = spec.get("quantization")
                    extra = f" scale={quant['scale']:.6g} zp={quant['zero_point']}" if quant else ""
                    dtype, shape = spec["dtype"], spec["shape"]
                    lines.append(f"    {kind[:-1]:<6} {tensor:<15} {dtype:<14} {shape}{extra}")
        if fmt.get("metadata_props"):
            lines.append(f"  metadata_props: {', '.join(sorted(fmt['metadata_props']))}")
        meta = fmt.get("tflite_metadata")
        if meta:
            lines.append(
                f"  tflite metadata: {meta['name']} v{meta['version']} (parser >= "
                f"{meta['min_parser_version']}), packed files: {', '.join(meta['packed_files'])}"
            )
    return "\n".join(lines)
