"""``trainer compare RUN...``: one table and one plot over several run directories.

Reads what ``trainer fit`` writes (docs/contracts.md §1): ``config.yaml`` (backbone,
weights, alpha, image_size, freeze, epochs), ``metrics.json`` (best_val_accuracy,
epochs_run, train_time_s) and ``history.csv`` (epoch, val_accuracy, epoch_time_s, and an
optional ``phase`` column for two-phase runs). A run that has not finished yet (no
``metrics.json``) is summarised from its history.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.atomic import write_with
from trainer.errors import TrainerError

__all__ = ["RunSummary", "ComparisonTable", "summarize_run", "compare_runs", "format_table",
           "plot_comparison"]

COLUMNS = ("run", "backbone", "weights", "image_size", "frozen", "epochs", "time_s",
           "best_val_accuracy")


@dataclass(frozen=True)
class RunSummary:
    """One run's row, plus its validation-accuracy curve."""

    name: str
    path: Path
    backbone: str
    weights: str
    image_size: int | None
    frozen: str  # the --freeze policy (all | none | N | layer name)
    epochs: int
    time_s: float | None
    best_val_accuracy: float | None
    finished: bool
    curve: list[tuple[int, float]] = field(default_factory=list)  # (epoch, val_accuracy)
    phase2_epoch: int | None = None  # first epoch of phase 2 (two-phase runs)

    def row(self) -> dict[str, Any]:
        """The table columns as a dict."""
        return {"run": self.name, "backbone": self.backbone, "weights": self.weights,
                "image_size": self.image_size, "frozen": self.frozen, "epochs": self.epochs,
                "time_s": self.time_s, "best_val_accuracy": self.best_val_accuracy}


@dataclass(frozen=True)
class ComparisonTable:
    """Runs in the order given."""

    runs: list[RunSummary]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per run (JSON-friendly)."""
        return [run.row() for run in self.runs]


def _read_config(root: Path) -> dict[str, Any]:
    import yaml

    try:
        values = yaml.safe_load((root / "config.yaml").read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TrainerError(f"{root}: cannot read config.yaml ({type(exc).__name__})") from None
    if not isinstance(values, dict):
        raise TrainerError(f"{root}: config.yaml is not a trainer config")
    return values


def _read_history(root: Path) -> list[dict[str, str]]:
    path = root / "history.csv"
    if not path.is_file():
        raise TrainerError(f"{root}: no history.csv (no epoch has finished yet)")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and "epoch" not in rows[0]:
        raise TrainerError(f"{root}: history.csv has no 'epoch' column")
    return rows


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def _weights_label(config: dict[str, Any]) -> str:
    if config.get("init_from"):
        return f"from {Path(str(config['init_from'])).name}"
    weights = str(config.get("weights", "?"))
    label = weights if weights in ("imagenet", "none") else Path(weights).name
    alpha = config.get("alpha")
    if alpha not in (None, 1.0, 1) and str(config.get("backbone", "")).startswith("mobilenet"):
        label += f" (alpha {alpha:g})"
    return label


def _phase2_start(history: list[dict[str, str]]) -> int | None:
    first = history[0].get("phase") if history else None
    for row in history:
        if row.get("phase") not in (None, "", first):
            return int(float(row["epoch"]))
    return None


def summarize_run(run_dir: str | Path, name: str | None = None) -> RunSummary:
    """The summary of one run directory; anything else is a one-line TrainerError."""
    root = Path(run_dir)
    if not root.is_dir():
        raise TrainerError(f"{root}: not a directory (expected a run directory)")
    if not (root / "config.yaml").is_file():
        raise TrainerError(f"{root}: not a run directory (no config.yaml)")
    config = _read_config(root)
    history = _read_history(root)
    metrics: dict[str, Any] = {}
    if (root / "metrics.json").is_file():
        try:
            metrics = json.loads((root / "metrics.json").read_text())
        except (OSError, ValueError) as exc:
            raise TrainerError(f"{root}: cannot read metrics.json ({exc})") from None
    curve = [(int(float(r["epoch"])), acc) for r in history
             if (acc := _number(r.get("val_accuracy"))) is not None]
    best = metrics.get("best_val_accuracy")
    if best is None and curve:
        best = max(acc for _, acc in curve)
    time_s = metrics.get("train_time_s")
    if time_s is None and history:
        times = [_number(r.get("epoch_time_s")) for r in history]
        time_s = round(sum(t for t in times if t is not None), 3)
    size = config.get("image_size")
    return RunSummary(
        name=name or root.name, path=root, backbone=str(config.get("backbone", "?")),
        weights=_weights_label(config), image_size=int(size) if size else None,
        frozen=str(config.get("freeze", "?")),
        epochs=int(metrics.get("epochs_run") or len(history)), time_s=time_s,
        best_val_accuracy=best, finished=bool(metrics), curve=curve,
        phase2_epoch=_phase2_start(history))


def compare_runs(run_dirs: Sequence[str | Path]) -> ComparisonTable:
    """Summaries of ``run_dirs`` in order. Runs with the same directory name are told apart
    by their parent directory."""
    if not run_dirs:
        raise TrainerError("compare needs at least one run directory")
    paths = [Path(p) for p in run_dirs]
    names = [p.name for p in paths]
    labels = [f"{p.parent.name}/{p.name}" if names.count(p.name) > 1 else p.name for p in paths]
    return ComparisonTable([summarize_run(p, n) for p, n in zip(paths, labels, strict=True)])


def _cell(value: Any, column: str) -> str:
    if value is None:
        return "-"
    if column == "best_val_accuracy":
        return f"{value:.4f}"
    if column == "time_s":
        return f"{value:.1f}"
    return str(value)


def format_table(table: ComparisonTable) -> str:
    """A plain-text table (one header line, one line per run; ``*`` marks unfinished runs)."""
    cells = [[_cell(run.row()[c], c) + ("*" if c == "run" and not run.finished else "")
              for c in COLUMNS] for run in table.runs]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def plot_comparison(table: ComparisonTable, png_path: str | Path,
                    title: str = "validation accuracy") -> Path:
    """One PNG with every run's validation-accuracy curve; a dotted line marks where a run's
    phase 2 starts. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 4.5))
    try:
        for run in table.runs:
            if not run.curve:
                continue
            epochs, accs = zip(*run.curve, strict=True)
            (line,) = ax.plot(epochs, accs, marker=".", label=f"{run.name} ({run.backbone})")
            if run.phase2_epoch is not None:
                ax.axvline(run.phase2_epoch - 0.5, color=line.get_color(), ls=":", lw=1)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("validation accuracy")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        path = Path(png_path)
        write_with(path, lambda p: fig.savefig(p, format="png", dpi=100, bbox_inches="tight"),
                   suffix=".png")
    finally:
        plt.close(fig)
    return path
