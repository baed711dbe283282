"""Shared helper of the training benchmarks: run one ``trainer fit`` in its own process and
measure it. Wall time and peak RSS come from ``os.wait4`` on that process; everything else
(accuracy, images/s, epoch times) from the run directory it wrote.

Paths are relative to the repository root, which is where the benchmarks run from.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = "../shared/data/cifar10/train.npz"
WEIGHTS = "../shared/data/weights/mobilenet_2_5_224_tf_no_top.h5"
# The measured settings are given flag by flag; --recipe none keeps the defaults of the flags
# not given as they were when these benchmarks were recorded (trainer.recipes).
SPLIT_ARGS = ["--val-split", "0.1", "--seed", "0", "--recipe", "none"]


@dataclass
class FitResult:
    """One measured ``trainer fit`` process."""

    name: str
    out: Path
    command: str
    exit_code: int
    wall_s: float
    peak_rss_mb: float
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the process succeeded and wrote ``metrics.json``."""
        return self.exit_code == 0 and bool(self.metrics)

    def epoch_times(self, phase: int | None = None) -> list[float]:
        """``epoch_time_s`` per history row, optionally only the rows of one phase."""
        rows = [r for r in self.history
                if phase is None or int(r.get("phase") or 1) == phase]
        return [float(r["epoch_time_s"]) for r in rows]

    def val_curve(self) -> list[float]:
        """Validation accuracy per epoch."""
        return [float(r["val_accuracy"]) for r in self.history]


def fit_command(model_args: list[str], out: Path, train_size: int | None = None) -> list[str]:
    """The ``trainer`` arguments of one benchmark run on the shared data's fixed split."""
    args = ["fit", "--data", DATA, *SPLIT_ARGS, *model_args,
            "--out", str(out), "--overwrite", "--quiet"]
    if train_size:
        args += ["--train-size", str(train_size)]
    return args


def run_fit(name: str, model_args: list[str], out_root: Path,
            train_size: int | None = None) -> FitResult:
    """Run ``trainer fit`` for ``model_args`` into ``out_root/name``; print the command first."""
    out = out_root / name
    args = fit_command(model_args, out, train_size)
    command = f"trainer {shlex.join(args)}"
    print(f"$ {command}", flush=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "trainer.cli", *args], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    result = FitResult(name=name, out=out, command=command,
                       exit_code=os.waitstatus_to_exitcode(status), wall_s=wall,
                       peak_rss_mb=usage.ru_maxrss / 1024)  # Linux: KiB
    if result.exit_code == 0 and (out / "metrics.json").is_file():
        result.metrics = json.loads((out / "metrics.json").read_text())
    if (out / "history.csv").is_file():
        with (out / "history.csv").open(newline="") as fh:
            result.history = list(csv.DictReader(fh))
    print(f"  -> exit {result.exit_code}, {wall:.0f} s wall, "
          f"best val acc {result.metrics.get('best_val_accuracy', float('nan')):.4f}",
          flush=True)
    return result
