"""Benchmark every export format of a trainer run: size, batch-1 and batch-32 latency,
top-1 agreement with the Keras model and accuracy on the run's validation sample.

Usage (from the repository root, after ``trainer fit`` wrote runs/mobilenet):

    python bench/export_mobilenet.py runs/mobilenet --limit 512 --repeats 20 \
        --json bench/results/export_mobilenet.json

It exports into a temporary model base path (nothing is published under models/), prints a
Markdown table for BENCHMARKS.md and optionally writes the full parity report as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def meets(item: dict, thresholds: Any) -> str:
    """'yes' or 'no (needs X%)' for one format of the parity block."""
    needed = thresholds.for_precision(item["precision"])
    return "yes" if item["top1_agreement"] >= needed else f"no (needs {needed:.1%})"


def markdown_table(report: dict) -> str:
    """The parity block of export_report.json as a Markdown table."""
    from exporter.config import Thresholds

    rows = [
        "| format | file | size (KB) | batch-1 ms | batch-32 ms | top-1 agreement | "
        "max abs diff | accuracy | meets default threshold |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    defaults = Thresholds()
    for item in report["parity"]["formats"]:
        acc = "-" if item["accuracy"] is None else f"{item['accuracy']:.2%}"
        rows.append(
            f"| {item['format']} | {item['file']} | {item['size_bytes'] / 1024:.1f} | "
            f"{item['latency_ms']['1']:.2f} | {item['latency_ms']['32']:.2f} | "
            f"{item['top1_agreement']:.2%} | {item['max_abs_diff']:.2e} | {acc} | "
            f"{meets(item, defaults)} |"
        )
    return "\n".join(rows)


def main() -> None:
    """Parse arguments, export to a temporary directory, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--limit", type=int, default=512, help="validation images to use")
    parser.add_argument("--repeats", type=int, default=20, help="latency repeats (median)")
    parser.add_argument("--quantize", default="float16,dynamic,int8")
    parser.add_argument("--json", type=Path, default=None, help="write the full report here")
    args = parser.parse_args()

    from exporter.config import (
        QUANTIZATIONS,
        ExportConfig,
        Thresholds,
        VerifySettings,
        parse_list,
    )
    from exporter.export import export_run

    with tempfile.TemporaryDirectory(prefix="export-bench-") as base:
        config = ExportConfig(
            run_dir=args.run_dir,
            model_base_path=Path(base),
            name="bench",
            quantize=parse_list(args.quantize, QUANTIZATIONS, "quantization"),
            # measure, do not gate: every format is kept; the table marks default thresholds
            verify=VerifySettings(
                limit=args.limit, latency_repeats=args.repeats, thresholds=Thresholds(0, 0, 0, 0)
            ),
        )
        start = time.perf_counter()
        result = export_run(config)
        seconds = time.perf_counter() - start
    report = result.report
    parity = report["parity"]
    keras_acc = parity["reference_accuracy"]
    acc_text = "-" if keras_acc is None else f"{keras_acc:.2%}"
    print(
        f"run: {args.run_dir}  backbone: {report['source']['backbone']}  image size: "
        f"{report['contract']['image_size']}  images: {parity['n_samples']}  "
        f"Keras accuracy: {acc_text}"
    )
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} CPUs; full export {seconds:.1f} s")
    print(markdown_table(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"seconds": seconds, **report}, indent=2) + "\n")


if __name__ == "__main__":
    main()
