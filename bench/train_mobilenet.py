"""Benchmark (not a test): fine-tune MobileNet alpha 0.25 with the real ImageNet weights on
the shared CIFAR-10 images, the small_cnn baseline on the same data, and peak RSS at 128 vs
224 px. Each run is a separate ``trainer fit`` process; wall time and peak RSS come from
``os.wait4`` on that process, accuracy and images/s from its ``metrics.json``.

Run from the repository root (paths are relative to it)::

    python bench/train_mobilenet.py                 # everything (long: ~25 min on 2 cores)
    python bench/train_mobilenet.py --only mobilenet --epochs 1 --train-size 500   # smoke

Prints one markdown table row per run and the exact command.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fit_runner import DATA, WEIGHTS, run_fit  # noqa: E402

HEADER = ("| run | epochs | train images | wall s | train images/s | peak RSS MB "
          "| best val acc |\n|---|---|---|---|---|---|---|")


def mobilenet_args(size: int, epochs: int) -> list[str]:
    """The fine-tuning recipe: whole network trainable from the first step with BatchNorm
    learning the statistics of upsampled CIFAR (with BatchNorm frozen to ImageNet statistics,
    Adam at this rate collapsed to one class in short trials), Adam 1e-3 with cosine decay,
    horizontal flips."""
    return ["--backbone", "mobilenet", "--alpha", "0.25", "--weights", WEIGHTS,
            "--image-size", str(size), "--freeze", "none", "--batchnorm", "train",
            "--optimizer", "adam", "--lr", "1e-3", "--schedule", "cosine", "--augment", "flip",
            "--epochs", str(epochs), "--batch-size", "32"]


def small_cnn_args(epochs: int) -> list[str]:
    """The tutorial baseline from scratch at 32 px."""
    return ["--backbone", "small_cnn", "--weights", "none", "--optimizer", "adam",
            "--lr", "1e-3", "--epochs", str(epochs), "--batch-size", "32"]


def run(name: str, model_args: list[str], out_root: Path, train_size: int | None) -> str:
    """Run one ``trainer fit`` process; return its markdown row."""
    r = run_fit(name, model_args, out_root, train_size)
    if not r.ok:
        return f"| {name} | failed (exit {r.exit_code}) |"
    m = r.metrics
    return (f"| {name} | {m['epochs_run']} | {m['num_train']} | {r.wall_s:.0f} | "
            f"{m['images_per_s']:.0f} | {r.peak_rss_mb:.0f} | {m['best_val_accuracy']:.4f} |")


def materialized_row(size: int, count: int) -> str:
    """Peak RSS of the tutorial way: the first ``count`` images resized to ``size`` px in
    float32, all in memory (``bench/_materialize_rss.py``), for comparison with the rows above."""
    script = Path(__file__).resolve().parent / "_materialize_rss.py"
    proc = subprocess.Popen([sys.executable, str(script), DATA, str(size), str(count)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    array_mb = proc.stdout.read().strip()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        return f"| materialised {size} px | failed (status {status}) |"
    return (f"| tutorial way: {count} images resized to {size} px in float32 in memory "
            f"({array_mb} MB array), no training | — | {count} | — | — | "
            f"{usage.ru_maxrss / 1024:.0f} | — |")


def main() -> None:
    """Parse options, run the selected benchmarks, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="mobilenet,small_cnn,rss,materialized",
                        help="comma list of: mobilenet, small_cnn, rss, materialized")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--baseline-epochs", type=int, default=15)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--out", default="runs/bench")
    opts = parser.parse_args()
    if not Path(DATA).is_file():
        sys.exit(f"error: {DATA} not found; run from the repository root next to ../shared")
    only = set(opts.only.split(","))
    out_root = Path(opts.out)
    rows = []
    if "mobilenet" in only:
        rows.append(run("mobilenet_a025_128", mobilenet_args(128, opts.epochs), out_root,
                        opts.train_size))
    if "small_cnn" in only:
        rows.append(run("small_cnn_32", small_cnn_args(opts.baseline_epochs), out_root,
                        opts.train_size))
    if "rss" in only:  # one short epoch each: peak RSS must not grow with the input size
        for size in (128, 224):
            rows.append(run(f"rss_mobilenet_{size}", mobilenet_args(size, 1), out_root,
                            opts.train_size or 1000))
    if "materialized" in only:  # what the streaming pipeline avoids, at the same sizes
        for size in (128, 224):
            rows.append(materialized_row(size, opts.train_size or 9000))
    print(HEADER)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
