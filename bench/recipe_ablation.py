"""The default recipe's ablation (issue 16): each ingredient of ``--recipe mobilenet-finetune``
switched off or changed, one ``trainer fit`` process per row, scored on held-out images.

Every row is the README's default command (MobileNet alpha 0.25 from the shared ImageNet
weights on the shared CIFAR-10 training images, no recipe flag) plus ``--test-split 1000``
(100 images per class held out before the validation split: never trained on, never used to
pick epochs) plus the row's own flags. The number reported is the FINAL ``model.keras`` on those
images with its 95 % Wilson interval, and a paired comparison with the ``default`` row on the
same images (``trainer evaluate RUN --test-split`` writes every image's prediction; the
p-value is McNemar's exact test on the images exactly one of the two gets right). Wall time
and peak RSS come from ``os.wait4`` on the fit process.

Run from the repository root::

    python bench/recipe_ablation.py                        # every row (~1 h on 2 cores)
    python bench/recipe_ablation.py --rows default,ema     # some rows; others keep their result
    python bench/recipe_ablation.py --table-only           # the table from stored results
    python bench/recipe_ablation.py --quick --rows default # mechanics only (runs/recipe_quick)

Results: ``bench/results/recipe/ROW.json`` per row, the table in ``bench/results/recipe.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

C10 = "../shared/data/cifar10/train.npz"
C100 = "../shared/data/cifar100/train.npz"
LOSSLESS = "../shared/data/cifar10/lossless_train2000.npz"
DERIVED = Path("runs/recipe_data")  # train.npz without the lossless images' JPEG copies
WEIGHTS = "../shared/data/weights/mobilenet_2_5_224_tf_no_top.h5"
DEFAULT_COMMAND = ["--backbone", "mobilenet", "--alpha", "0.25", "--weights", WEIGHTS]
RESULTS = Path("bench/results/recipe")
TABLE = Path("bench/results/recipe.md")


@dataclass(frozen=True)
class Row:
    """One ablation run: flags added to the default command, or a re-scoring of another row."""

    name: str
    what: str
    flags: tuple[str, ...] = ()
    data: str = C10
    test_split: int | None = 1000
    tta_of: str | None = None  # re-score this row's run with --tta flip instead of training
    jpeg_copies: bool = False  # also score the JPEG copies of the --test-data images


ROWS = [
    Row("default", "the default recipe (no flag): 128 px, flip + crop, label smoothing 0.1, "
        "BatchNorm learning, Adam 1e-3 cosine, epochs sized to the data (18 on 8,100 images)"),
    Row("tta_flip", "default's model, `trainer evaluate --tta flip` (mirror averaging)",
        tta_of="default"),
    Row("no_label_smoothing", "label smoothing 0", ("--label-smoothing", "0")),
    Row("flip_only", "flip only (no random crop)", ("--augment", "flip")),
    Row("ema", "EMA of the weights, momentum 0.999", ("--ema", "0.999")),
    Row("px160", "160 px, 10 epochs (1.56x the pixels per image: a little less compute "
        "than the default's 18 at 128 px)", ("--image-size", "160", "--epochs", "10")),
    Row("bn_frozen", "BatchNorm frozen to ImageNet statistics", ("--batchnorm", "frozen")),
    Row("two_phase", "head warm-up on cached features (3 epochs), then the whole net 13 epochs "
        "at 1e-4", ("--freeze", "all", "--epochs", "3", "--fine-tune-epochs", "13",
                    "--fine-tune-lr", "1e-4")),
    Row("epochs10", "10 epochs instead of 18", ("--epochs", "10")),
    Row("budget10m", "`--time-budget 10m` instead of the recipe's epochs: measures this "
        "machine, then trains the epochs that fit 600 s", ("--time-budget", "10m")),
    Row("exact_pixels", "trained on the 8,000 images that are not JPEG copies of the 2,000 "
        "lossless ones; scored on those 2,000 at their exact pixels (as an official test set "
        "is) and, paired, on their JPEG copies", ("--test-data", LOSSLESS),
        data=str(DERIVED / "c10_without_lossless.npz"), test_split=None, jpeg_copies=True),
    Row("c100_default", "CIFAR-100 (100 fine classes), the default command, 3,000 held out",
        data=C100, test_split=3000),
]


def fit_args(row: Row, out: Path, quick: bool) -> list[str]:
    """``trainer`` arguments of one row."""
    split = [] if row.test_split is None else ["--test-split", str(row.test_split)]
    args = ["fit", "--data", row.data, *DEFAULT_COMMAND, *split,
            *row.flags, "--out", str(out), "--overwrite", "--quiet"]
    if quick:
        args += ["--train-size", "300", "--epochs", "1"] if "--epochs" not in row.flags else \
            ["--train-size", "300"]
    return args


def _trainer(args: list[str]) -> tuple[int, float, float]:
    """Run ``python -m trainer.cli ARGS``; (exit code, wall s, peak RSS MB)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    print(f"$ trainer {shlex.join(args)}", flush=True)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "trainer.cli", *args], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    return (os.waitstatus_to_exitcode(status), time.perf_counter() - start,
            usage.ru_maxrss / 1024)


def lossless_sets() -> tuple[Path, Path]:
    """``train.npz`` without the JPEG copies of the 2,000 lossless images (8,000 images), and
    those copies in the order of ``lossless_train2000.npz``. A copy is the image of the same
    class with the smallest mean absolute pixel difference (about 5.8 grey levels; every
    lossless image finds a different one, checked)."""
    DERIVED.mkdir(parents=True, exist_ok=True)
    rest, copies = DERIVED / "c10_without_lossless.npz", DERIVED / "lossless_jpeg_copies.npz"
    if rest.is_file() and copies.is_file():
        return rest, copies
    with np.load(C10) as train, np.load(LOSSLESS) as exact:
        x, y, lx, ly = train["x"], train["y"], exact["x"], exact["y"]
    flat = x.reshape(len(x), -1).astype(np.float32)
    match = np.empty(len(lx), dtype=np.int64)
    for i in range(len(lx)):
        same = np.flatnonzero(y == ly[i])
        diff = np.abs(flat[same] - lx[i].reshape(-1).astype(np.float32)).mean(axis=1)
        match[i] = same[diff.argmin()]
    if len(np.unique(match)) != len(match):
        raise SystemExit("two lossless images matched the same JPEG copy")
    keep = np.setdiff1d(np.arange(len(x)), match)
    (DERIVED / "labels.txt").write_text(Path(C10).with_name("labels.txt").read_text())
    np.savez(rest, x=x[keep], y=y[keep])
    np.savez(copies, x=x[match], y=y[match])
    return rest, copies


def _predictions(run: Path, tta: str = "none", data: Path | None = None) -> Path:
    """``trainer evaluate RUN --test-split`` (or ``--data DATA``) into RUN/eval[_tta|_data];
    its predictions file."""
    if data is None:
        out, source = run / ("eval" if tta == "none" else f"eval_{tta}"), ["--test-split"]
    else:
        out, source = run / f"eval_{data.stem}", ["--data", str(data)]
    code, _, _ = _trainer(["evaluate", str(run), *source, "--out", str(out), "--tta", tta])
    if code != 0:
        raise SystemExit(f"trainer evaluate {run} failed (exit {code})")
    return out / "eval_predictions.npz"


def run_row(row: Row, out_root: Path, quick: bool) -> dict[str, Any]:
    """Train (or re-score) one row; the stored record."""
    if row.tta_of is not None:
        run = out_root / row.tta_of
        if not (run / "model.keras").is_file():
            raise SystemExit(f"row {row.name} needs row {row.tta_of} first")
        start = time.perf_counter()
        preds = _predictions(run, "flip")
        record = {"command": f"trainer evaluate {run} --test-split --tta flip",
                  "wall_s": time.perf_counter() - start, "peak_rss_mb": None}
        metrics = json.loads((out_root / row.tta_of / "metrics.json").read_text())
    else:
        run = out_root / row.name
        if row.jpeg_copies:
            lossless_sets()
        args = fit_args(row, run, quick)
        code, wall, rss = _trainer(args)
        if code != 0:
            raise SystemExit(f"row {row.name}: trainer fit failed (exit {code})")
        preds = _predictions(run)
        metrics = json.loads((run / "metrics.json").read_text())
        record = {"command": f"trainer {shlex.join(args)}", "wall_s": wall, "peak_rss_mb": rss}
    with np.load(preds) as npz:
        y, probs = npz["y"], npz["probs"]
    correct = probs.argmax(axis=1) == y
    record.update({
        "row": row.name, "what": row.what, "run": str(run),
        "num_images": int(len(y)), "correct": int(correct.sum()),
        "accuracy": float(correct.mean()), "ci95": list(wilson(int(correct.sum()), len(y))),
        "epochs": metrics.get("epochs_run"), "images_per_s": metrics.get("images_per_s"),
        "best_val_accuracy": metrics.get("best_val_accuracy"),
        "fit_test_accuracy": (metrics.get("test") or {}).get("accuracy"),
        "finished_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "correct_per_image": correct.astype(int).tolist(),
    })
    if row.jpeg_copies:
        with np.load(_predictions(run, data=lossless_sets()[1])) as npz:
            jpeg = (npz["probs"].argmax(axis=1) == npz["y"]).astype(int).tolist()
        record["jpeg_copies"] = {"accuracy": float(np.mean(jpeg)),
                                 "ci95": list(wilson(int(np.sum(jpeg)), len(jpeg))),
                                 "correct_per_image": jpeg}
    return record


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of correct / n."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def mcnemar(a: list[int], b: list[int]) -> tuple[int, int, float]:
    """(images only ``a`` gets right, only ``b`` gets right, exact two-sided p-value)."""
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    n = only_a + only_b
    if n == 0:
        return 0, 0, 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2 ** n
    return only_a, only_b, min(1.0, 2 * tail)


def table(stored: dict[str, dict[str, Any]]) -> str:
    """Markdown table over every row (rows never run say so)."""
    lines = ["| row | what | held-out top-1 [95 % CI], n | vs default: only this right / "
             "only default right (McNemar p) | epochs | wall s | peak RSS MB | train img/s |",
             "|---|---|---|---|---:|---:|---:|---:|"]
    ref = stored.get("default")
    for row in ROWS:
        rec = stored.get(row.name)
        if rec is None:
            lines.append(f"| {row.name} | {row.what} | not run | | | | | |")
            continue
        lo, hi = rec["ci95"]
        acc = (f"**{100 * rec['accuracy']:.1f} %** [{100 * lo:.1f}, {100 * hi:.1f}], "
               f"n={rec['num_images']:,}")
        paired = ""
        if "jpeg_copies" in rec:
            jp = rec["jpeg_copies"]
            a, b, p = mcnemar(rec["correct_per_image"], jp["correct_per_image"])
            paired = (f"same images as JPEG copies: {100 * jp['accuracy']:.1f} % "
                      f"[{100 * jp['ci95'][0]:.1f}, {100 * jp['ci95'][1]:.1f}]; only exact "
                      f"right / only JPEG right: {a} / {b} (p={p:.2g})")
        elif ref is not None and row.name != "default" and row.data == C10 \
                and len(ref["correct_per_image"]) == len(rec["correct_per_image"]):
            a, b, p = mcnemar(rec["correct_per_image"], ref["correct_per_image"])
            paired = f"{a} / {b} (p={p:.2g})"
        rss = "—" if rec["peak_rss_mb"] is None else f"{rec['peak_rss_mb']:,.0f}"
        ips = "—" if rec.get("images_per_s") is None or row.tta_of else \
            f"{rec['images_per_s']:.0f}"
        epochs = "—" if row.tta_of else rec.get("epochs")
        lines.append(f"| {row.name} | {row.what} | {acc} | {paired} | {epochs} | "
                     f"{rec['wall_s']:.0f} | {rss} | {ips} |")
    return "\n".join(lines) + "\n"


def load_stored(directory: Path) -> dict[str, dict[str, Any]]:
    """Stored row results by row name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def main() -> None:
    """Parse the options, run the rows asked for, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(r.name for r in ROWS),
                        help="comma-separated rows to run (default: all)")
    parser.add_argument("--out", type=Path, default=Path("runs/recipe"),
                        help="where the run directories go")
    parser.add_argument("--quick", action="store_true",
                        help="mechanics only: 300 training images, 1 epoch; results under "
                             "runs/recipe_quick, stored tables untouched")
    parser.add_argument("--table-only", action="store_true")
    ns = parser.parse_args()
    by_name = {r.name: r for r in ROWS}
    wanted = [n.strip() for n in ns.rows.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        parser.error(f"unknown rows {', '.join(unknown)}; accepted: {', '.join(by_name)}")
    results = Path("runs/recipe_quick/results") if ns.quick else RESULTS
    out_root = Path("runs/recipe_quick") if ns.quick else ns.out
    results.mkdir(parents=True, exist_ok=True)
    if not ns.table_only:
        for name in wanted:
            record = run_row(by_name[name], out_root, ns.quick)
            tmp = results / f".{name}.json.tmp"
            tmp.write_text(json.dumps(record) + "\n")
            tmp.replace(results / f"{name}.json")
            print(f"  -> {name}: {100 * record['accuracy']:.1f} % held-out, "
                  f"{record['wall_s']:.0f} s", flush=True)
    text = table(load_stored(results))
    print(text)
    if not ns.quick:
        TABLE.parent.mkdir(parents=True, exist_ok=True)
        TABLE.write_text(text)


if __name__ == "__main__":
    main()
