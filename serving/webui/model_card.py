"""A version's model card: the public facts of its ``export_report.json``.

Only whitelisted fields of plain types are copied (formats, sizes, parity, accuracy,
latency); paths of the exporting machine (``source.run_dir``, ``parity.data_source``) are not.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

__all__ = ["REPORT_FILE", "MAX_REPORT_BYTES", "read_model_card", "model_card"]

REPORT_FILE = "export_report.json"
MAX_REPORT_BYTES = 4 * 1024 * 1024
_FORMAT_FIELDS = ("format", "file", "precision", "size_bytes", "top1_agreement",
                  "max_abs_diff", "mean_abs_diff", "accuracy", "passed")
_CONTRACT_FIELDS = ("image_size", "num_classes", "top_k")


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _pick(source: Any, names: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(source, dict):
        return {}
    return {k: _finite(source[k]) for k in names if k in source and _plain(source[k])}


def model_card(report: Any) -> dict[str, Any]:
    """The card of a parsed ``export_report.json`` (unknown shapes give empty sections)."""
    report = report if isinstance(report, dict) else {}
    parity = report.get("parity") if isinstance(report.get("parity"), dict) else {}
    card: dict[str, Any] = _pick(report, ("created_utc",))
    card.update(_pick(report.get("source"), ("backbone",)))
    card.update(_pick(report.get("contract"), _CONTRACT_FIELDS))
    card["parity"] = _pick(parity, ("reference", "n_samples", "reference_accuracy", "passed"))
    formats = []
    for item in parity.get("formats") or []:
        row = _pick(item, _FORMAT_FIELDS)
        latency = item.get("latency_ms") if isinstance(item, dict) else None
        if isinstance(latency, dict):
            row["latency_ms"] = {str(k): _finite(v) for k, v in latency.items()
                                 if isinstance(v, int | float) and not isinstance(v, bool)}
        formats.append(row)
    if not formats and isinstance(report.get("formats"), dict):
        formats = [{"format": str(name), **_pick(info, ("file", "precision"))}
                   for name, info in report["formats"].items()]
    card["formats"] = formats
    return card


def read_model_card(version_dir: Path) -> dict[str, Any] | None:
    """The card of ``version_dir/export_report.json``; None when there is no readable report."""
    path = Path(version_dir) / REPORT_FILE
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            return None
        report = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return model_card(report)
