"""Benchmark (not a test) of issue 3's transfer-learning flags on the shared CIFAR-10 images
(fixed split ``--val-split 0.1 --seed 0``), MobileNet alpha 0.25 with the real weights at
128 px: (a) frozen backbone + cached features, (b) two-phase fine-tune, (c) ``small_cnn`` and
``mini_vgg`` from scratch at 32 px with about (b)'s wall time, (d) a cached head epoch vs a
frozen-backbone epoch through the full network. Then ``trainer compare`` of (a)-(c).

One ``trainer fit`` process per row (``bench/_fit_runner.py``: wall time and peak RSS from
``os.wait4``, the rest from the run directory). Every cached run gets its own, initially
empty feature cache under ``--out`` so its wall time includes the one-off extraction; the
cached side of (d) reuses (a)'s cache (it measures epochs, not extraction).

Run from the repository root::

    python bench/transfer_bench.py                                  # everything (~25 min)
    python bench/transfer_bench.py --smoke --out runs/transfer_smoke  # mechanics only

Writes the report (``--report``) and the comparison plot (``--plot``).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fit_runner import DATA, WEIGHTS, FitResult, run_fit  # noqa: E402
from _transfer_report import write_report  # noqa: E402

MOBILENET = ["--backbone", "mobilenet", "--alpha", "0.25", "--weights", WEIGHTS,
             "--image-size", "128", "--optimizer", "adam", "--batch-size", "32"]


def frozen_args(epochs: int, cache_dir: Path) -> list[str]:
    """(a): backbone frozen, no augmentation, so the head trains on cached features."""
    return [*MOBILENET, "--freeze", "all", "--lr", "1e-3", "--schedule", "cosine",
            "--epochs", str(epochs), "--cache-dir", str(cache_dir)]


def two_phase_args(head_epochs: int, ft_epochs: int, ft_lr: str, cache_dir: Path) -> list[str]:
    """(b): phase 1 head on cached features, phase 2 the whole backbone (BatchNorm in
    inference mode, as fit does in phase 2) at a low rate with flips."""
    return [*MOBILENET, "--freeze", "all", "--lr", "1e-3", "--schedule", "cosine",
            "--augment", "flip", "--epochs", str(head_epochs),
            "--fine-tune-epochs", str(ft_epochs), "--fine-tune-lr", ft_lr,
            "--unfreeze-from", "0", "--cache-dir", str(cache_dir)]


def scratch_args(backbone: str, epochs: int) -> list[str]:
    """(c): a small net from scratch at 32 px (flips, cosine Adam 1e-3)."""
    return ["--backbone", backbone, "--weights", "none", "--image-size", "32",
            "--optimizer", "adam", "--lr", "1e-3", "--schedule", "cosine",
            "--augment", "flip", "--epochs", str(epochs), "--batch-size", "32"]


def cache_ratio_args(cached: bool, epochs: int, cache_dir: Path) -> list[str]:
    """(d): the same frozen-backbone run with and without cached features."""
    flag = "--cache-features" if cached else "--no-cache-features"
    return [*MOBILENET, "--freeze", "all", "--lr", "1e-3", "--epochs", str(epochs), flag,
            "--cache-dir", str(cache_dir)]


def compare(runs: list[FitResult], plot: Path) -> tuple[str, str]:
    """Run ``trainer compare`` on the finished runs; return (command, its output)."""
    args = ["compare", *[str(r.out) for r in runs if r.ok], "--plot", str(plot)]
    plot.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "trainer.cli", *args],
                          capture_output=True, text=True, check=False)
    return f"trainer {shlex.join(args)}", (done.stdout + done.stderr).strip()


def main() -> None:
    """Parse options, run the selected rows, write the report and the plot."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="a,b,d,small_cnn,mini_vgg",
                   help="comma list of: a, b, d, small_cnn, mini_vgg (run in this order)")
    p.add_argument("--head-epochs", type=int, default=30, help="(a) head epochs")
    p.add_argument("--phase1-epochs", type=int, default=10, help="(b) head epochs")
    p.add_argument("--fine-tune-epochs", type=int, default=12, help="(b) phase-2 epochs")
    p.add_argument("--fine-tune-lr", default="3e-4", help="(b) phase-2 learning rate")
    p.add_argument("--small-cnn-epochs", type=int, default=70)
    p.add_argument("--mini-vgg-epochs", type=int, default=11)
    p.add_argument("--ratio-epochs", type=int, default=2, help="(d) epochs per side")
    p.add_argument("--train-size", type=int, default=None)
    p.add_argument("--smoke", action="store_true",
                   help="tiny run (500 images, 1-2 epochs) to check the mechanics")
    p.add_argument("--out", default="runs/transfer")
    p.add_argument("--report", default="bench/results/transfer.md")
    p.add_argument("--plot", default="docs/img/compare.png")
    o = p.parse_args()
    if o.smoke:
        o.train_size = o.train_size or 500
        o.head_epochs = o.phase1_epochs = o.small_cnn_epochs = o.mini_vgg_epochs = 2
        o.fine_tune_epochs = 1
    if not Path(DATA).is_file():
        sys.exit(f"error: {DATA} not found; run from the repository root next to ../shared")
    only = set(o.only.split(","))
    root = Path(o.out)
    for name in ("cache_a", "cache_b"):  # cold caches: wall times include extraction
        shutil.rmtree(root / name, ignore_errors=True)
    results: dict[str, FitResult] = {}
    size = o.train_size
    if "a" in only:
        results["a"] = run_fit("a_frozen_cached", frozen_args(o.head_epochs, root / "cache_a"),
                               root, size)
    if "b" in only:
        results["b"] = run_fit("b_two_phase", two_phase_args(
            o.phase1_epochs, o.fine_tune_epochs, o.fine_tune_lr, root / "cache_b"), root, size)
    if "d" in only:
        for cached in (True, False):
            key = "d_cached" if cached else "d_uncached"
            results[key] = run_fit(key, cache_ratio_args(cached, o.ratio_epochs,
                                                         root / "cache_a"), root, size)
    for backbone, epochs in (("small_cnn", o.small_cnn_epochs), ("mini_vgg", o.mini_vgg_epochs)):
        if backbone in only:
            results[backbone] = run_fit(f"c_{backbone}", scratch_args(backbone, epochs),
                                        root, size)
    compared = [results[k] for k in ("a", "b", "small_cnn", "mini_vgg") if k in results]
    cmp_cmd, cmp_out = compare(compared, Path(o.plot)) if compared else ("", "")
    invocation = shlex.join(["python", "bench/transfer_bench.py", *sys.argv[1:]])
    path = write_report(Path(o.report), invocation, results, cmp_cmd, cmp_out)
    print(f"wrote {path}")
    print(cmp_out)


if __name__ == "__main__":
    main()
