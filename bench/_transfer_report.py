"""Markdown report of ``bench/transfer_bench.py``: one table per item (target, measured, met?),
the measured rows, and the ``trainer compare`` table. Numbers come only from the runs."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from _fit_runner import FitResult

BUDGET_S = 600.0  # (b): <= 10 minutes wall
TARGET_ACC = 0.83  # (b)
README_HEAD_ACC = 0.72  # (a): a logistic head on frozen features, per the data README
MIN_RATIO = 10.0  # (d)


def _acc(r: FitResult) -> str:
    return f"{100 * r.metrics['best_val_accuracy']:.2f}%" if r.ok else "failed"


def _curve(r: FitResult) -> str:
    return " → ".join(f"{100 * v:.1f}" for v in r.val_curve())


def _yes(flag: bool) -> str:
    return "**yes**" if flag else "**no**"


def _rows(results: dict[str, FitResult]) -> list[str]:
    out = ["| run | epochs | train images | wall s | peak RSS MB | best val acc | "
           "val acc per epoch (%) |", "|---|---|---|---|---|---|---|"]
    for r in results.values():
        if not r.ok:
            out.append(f"| {r.name} | failed (exit {r.exit_code}) | | {r.wall_s:.0f} | | | |")
            continue
        m = r.metrics
        out.append(f"| {r.name} | {m['epochs_run']} | {m['num_train']} | {r.wall_s:.0f} | "
                   f"{r.peak_rss_mb:.0f} | {_acc(r)} | {_curve(r)} |")
    return out


def _item_a(r: FitResult) -> list[str]:
    fc = r.metrics.get("feature_cache", {})
    acc = r.metrics.get("best_val_accuracy", 0.0)
    return ["### (a) Frozen MobileNet α0.25 + cached features", "",
            "| target | measured | met? |", "|---|---|---|",
            f"| total wall time (reported) | {r.wall_s:.0f} s, of which feature extraction "
            f"{fc.get('extract_seconds', float('nan')):.1f} s (train) + "
            f"{fc.get('val_extract_seconds', float('nan')):.1f} s (val), head epoch "
            f"{fc.get('head_epoch_seconds', float('nan')):.2f} s | — |",
            f"| accuracy about {100 * README_HEAD_ACC:.0f}% (data README, logistic head) | "
            f"{_acc(r)} | {_yes(acc >= README_HEAD_ACC - 0.02)} |", ""]


def _item_b(r: FitResult) -> list[str]:
    acc = r.metrics.get("best_val_accuracy", 0.0)
    start = r.metrics.get("phase2_start_epoch")
    p1, p2 = sum(r.epoch_times(1)), sum(r.epoch_times(2))
    return ["### (b) Two-phase fine-tune", "",
            "| target | measured | met? |", "|---|---|---|",
            f"| ≥ {100 * TARGET_ACC:.0f}% validation accuracy | {_acc(r)} "
            f"(phase 2 from epoch {start}) | {_yes(acc >= TARGET_ACC)} |",
            f"| ≤ {BUDGET_S / 60:.0f} min wall | {r.wall_s:.0f} s ({r.wall_s / 60:.1f} min); "
            f"epochs: phase 1 {p1:.0f} s, phase 2 {p2:.0f} s | {_yes(r.wall_s <= BUDGET_S)} |",
            ""]


def _item_c(results: dict[str, FitResult]) -> list[str]:
    b = results.get("b")
    out = ["### (c) From scratch at 32 px, same wall-time budget as (b)", "",
           "| target | measured | met? |", "|---|---|---|"]
    for key in ("small_cnn", "mini_vgg"):
        r = results.get(key)
        if r is None:
            continue
        budget = f"(b) took {b.wall_s:.0f} s" if b else "(b) not run"
        near = b is not None and abs(r.wall_s - b.wall_s) <= 0.25 * b.wall_s
        out.append(f"| `{key}` about as long as (b) | {r.metrics.get('epochs_run', '?')} "
                   f"epochs in {r.wall_s:.0f} s; {budget} | {_yes(near)} |")
        if b is not None and b.ok and r.ok:
            gap = 100 * (b.metrics["best_val_accuracy"] - r.metrics["best_val_accuracy"])
            out.append(f"| `{key}` accuracy vs (b) | {_acc(r)} vs {_acc(b)} "
                       f"({gap:+.1f} points for transfer) | — |")
    return [*out, ""]


def _item_d(cached: FitResult, uncached: FitResult) -> list[str]:
    c, u = cached.epoch_times(), uncached.epoch_times()
    ct = [float(h["train_time_s"]) for h in cached.history]
    ut = [float(h["train_time_s"]) for h in uncached.history]
    if not (c and u):
        return ["### (d) Cached vs uncached", "", "a run failed: no ratio", ""]
    ratio, train_ratio = u[-1] / c[-1], ut[-1] / ct[-1]
    return ["### (d) Per-epoch time, cached head vs frozen backbone through the network", "",
            f"Same flags, {len(c)} epochs each; last epoch compared (the first includes "
            "tracing). `epoch_time_s` includes validation, `train_time_s` only the "
            "training steps (both from `history.csv`).", "",
            "| target | measured | met? |", "|---|---|---|",
            f"| head epoch ≥ {MIN_RATIO:.0f}× faster | epoch {u[-1]:.2f} s uncached vs "
            f"{c[-1]:.2f} s cached = **{ratio:.0f}×**; training steps {ut[-1]:.2f} s vs "
            f"{ct[-1]:.2f} s = {train_ratio:.0f}× | {_yes(ratio >= MIN_RATIO)} |",
            f"| same accuracy either way | {_acc(uncached)} uncached vs {_acc(cached)} "
            "cached | — |",
            f"| `estimated_speedup` in metrics.json | "
            f"{cached.metrics.get('feature_cache', {}).get('estimated_speedup', 'n/a')} "
            "(estimate from the one-off extraction; see docs/trainer-transfer.md) | — |", ""]


def write_report(path: Path, invocation: str, results: dict[str, FitResult],
                 compare_cmd: str, compare_out: str) -> Path:
    """Write the markdown report atomically (temp file + rename); return its path."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Transfer-learning benchmark (issue 3)", "",
             f"Measured {now} on {platform.machine()}, {os.cpu_count()} CPU cores shared with "
             "other engineers, no GPU. Data `../shared/data/cifar10/train.npz` with "
             "`--val-split 0.1 --seed 0` (fixed stratified split), weights "
             "`../shared/data/weights/mobilenet_2_5_224_tf_no_top.h5`.", "",
             "Command (one `trainer fit` process per row; wall time and peak RSS from "
             "`os.wait4`, accuracy and epoch times from the run directory):", "",
             "```bash", invocation, "```", "", "Each row's exact `trainer fit` command:", "",
             "```bash", *[r.command for r in results.values()], "```", ""]
    if "a" in results:
        lines += _item_a(results["a"])
    if "b" in results:
        lines += _item_b(results["b"])
    lines += _item_c(results)
    if "d_cached" in results and "d_uncached" in results:
        lines += _item_d(results["d_cached"], results["d_uncached"])
    lines += ["### All runs", "", *_rows(results), ""]
    if compare_cmd:
        lines += ["### `trainer compare` of (a)–(c)", "", "```bash", compare_cmd, "```", "",
                  "```text", compare_out, "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)
    return path
